"""`tpctl apply`'s three-way merge, as `kubectl apply` (client side) does it.

tpctl keeps what the user last applied in the annotation
`tokenplane.io/last-applied-configuration` (the fields the user wrote, as JSON).
Applying a manifest then changes the live object in three ways:

- a field in the manifest is set to the manifest's value;
- a field in the last-applied configuration but no longer in the manifest is
  removed (back to its default): the user deleted it from the file;
- a field in neither, set by someone else (a label another tool added,
  `tpctl scale`'s replicas when the file does not name them), is kept.

Maps merge key by key; lists are replaced whole. Status and the metadata the
server assigns are never part of it. Server-side apply with field managers
would track ownership per field on the server; the annotation keeps the server
simple and is what kubectl users know from `kubectl apply`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

LAST_APPLIED = "tokenplane.io/last-applied-configuration"
# Metadata the server assigns: never the user's to apply or to remember.
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation")


def user_fields(document: dict[str, Any]) -> dict[str, Any]:
    """What a manifest says, to remember: no status, server metadata or last-applied."""
    doc = copy.deepcopy(document)
    doc.pop("status", None)
    meta = doc.get("metadata", {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            meta.pop("annotations")
    return doc


def encode(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def last_applied(live: dict[str, Any]) -> dict[str, Any]:
    """The configuration last applied to `live`; {} when none (created another way) or bad."""
    text = live.get("metadata", {}).get("annotations", {}).get(LAST_APPLIED, "")
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def merge_maps(
    original: dict[str, Any], modified: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """Three-way merge of one map: `current` changed by what went from `original` to
    `modified`, keeping what neither mentions."""
    merged = copy.deepcopy(current)
    for key in original:
        if key not in modified:
            merged.pop(key, None)
    for key, value in modified.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            before = original.get(key)
            merged[key] = merge_maps(before if isinstance(before, dict) else {}, value, merged[key])
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def three_way(manifest: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """The object to send for `manifest` (the fields its author wrote) given the `live` object
    (None: not there yet), carrying the new last-applied annotation."""
    mine = user_fields(manifest)
    if live is None:
        merged = copy.deepcopy(mine)
    else:
        current = user_fields(live)
        merged = merge_maps(last_applied(live), mine, current)
        given = manifest.get("metadata", {}).get("resourceVersion")
        if given:
            merged["metadata"]["resourceVersion"] = given
    annotations = merged.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[LAST_APPLIED] = encode(mine)
    if live is not None and _exported(manifest, live, merged):
        annotations[LAST_APPLIED] = live["metadata"]["annotations"][LAST_APPLIED]
    return merged


def _exported(manifest: dict[str, Any], live: dict[str, Any], merged: dict[str, Any]) -> bool:
    """A manifest that carries a last-applied annotation of its own was exported
    (`tpctl get -o yaml`); applied back unchanged, it keeps the live annotation, so that the
    round trip is `unchanged` and the author's last file stays the one remembered."""
    carried = manifest.get("metadata", {}).get("annotations", {}).get(LAST_APPLIED)
    if not carried or LAST_APPLIED not in live.get("metadata", {}).get("annotations", {}):
        return False
    without = user_fields(merged)
    return without == user_fields(live)

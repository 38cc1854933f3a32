"""What `tpctl diff` compares: the desired state as stored now and as apply would store it.

Status, and the metadata the server assigns (uid, resourceVersion, timestamps,
generation), are left out: apply does not change them, and showing them would
bury the change a person is about to make. So is the last-applied annotation (a JSON
copy of the file): the diff shows its effect, not its text.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from controlplane.cli.merge import LAST_APPLIED
from controlplane.cli.output import manifest
from controlplane.resources.codec import Resource


def desired(resource: Resource) -> dict[str, Any]:
    data = manifest(resource)
    meta = data["metadata"]
    kept = {k: meta[k] for k in ("name", "labels", "annotations") if meta.get(k)}
    annotations = {k: v for k, v in kept.get("annotations", {}).items() if k != LAST_APPLIED}
    kept.pop("annotations", None)
    if annotations:
        kept["annotations"] = annotations
    return {
        "apiVersion": data["apiVersion"],
        "kind": data["kind"],
        "metadata": kept,
        "spec": data["spec"],
    }


def unified_diff(name: str, live: Resource | None, merged: Resource) -> list[str]:
    """Lines of a unified diff from `live` (None: not there yet) to `merged`; [] if equal."""
    before = yaml.safe_dump(desired(live), sort_keys=False).splitlines() if live else []
    after = yaml.safe_dump(desired(merged), sort_keys=False).splitlines()
    return list(
        difflib.unified_diff(
            before,
            after,
            fromfile=f"live/{name}" if live else "/dev/null",
            tofile=f"merged/{name}",
            lineterm="",
        )
    )

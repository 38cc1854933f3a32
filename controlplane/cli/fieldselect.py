"""`--field-selector`, as kubectl's: `field=value`, `field==value`, `field!=value`, comma-ANDed.

Each kind supports a fixed set of fields, read from its manifest; the derived
ones (a node's `status.ready` and `status.phase`, a deployment's) are what
`tpctl get` shows in its STATUS or READY columns. Selecting is done by tpctl on
what the server lists, so that it works the same with `--watch`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

Getter = Callable[[dict[str, Any]], str]
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*$")


def _path(*keys: str) -> Getter:
    def get(data: dict[str, Any]) -> str:
        value: Any = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, bool):
            return str(value).lower()
        return "" if value is None else str(value)

    return get


def _node_ready(data: dict[str, Any]) -> str:
    conditions = data.get("status", {}).get("conditions", [])
    return next((c.get("status", "") for c in conditions if c.get("type") == "Ready"), "Unknown")


def _node_phase(data: dict[str, Any]) -> str:
    return {"True": "Ready", "False": "NotReady"}.get(_node_ready(data), "Unknown")


def _deployment_ready(data: dict[str, Any]) -> str:
    ready = data.get("status", {}).get("readyReplicas", 0)
    return str(ready >= data.get("spec", {}).get("replicas", 1)).lower()


def _deployment_phase(data: dict[str, Any]) -> str:
    return "Running" if _deployment_ready(data) == "true" else "Progressing"


_COMMON: dict[str, Getter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.uid": _path("metadata", "uid"),
}
FIELDS: dict[str, dict[str, Getter]] = {
    "Node": {
        **_COMMON,
        "spec.tier": _path("spec", "tier"),
        "spec.unschedulable": _path("spec", "unschedulable"),
        "spec.location.region": _path("spec", "location", "region"),
        "spec.location.country": _path("spec", "location", "country"),
        "status.ready": lambda d: {"True": "true", "False": "false"}.get(_node_ready(d), "unknown"),
        "status.phase": _node_phase,
    },
    "ModelDeployment": {
        **_COMMON,
        "spec.model.name": _path("spec", "model", "name"),
        "status.ready": _deployment_ready,
        "status.phase": _deployment_phase,
    },
    "Replica": {
        **_COMMON,
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.deployment": _path("spec", "deployment"),
        "status.phase": _path("status", "phase"),
        "status.ready": lambda d: str(d.get("status", {}).get("phase") == "Running").lower(),
    },
    "Curtailment": {
        **_COMMON,
        "spec.nodeName": _path("spec", "nodeName"),
        "status.phase": _path("status", "phase"),
    },
}


@dataclass(frozen=True, slots=True)
class Requirement:
    field: str
    equal: bool
    value: str


def parse(text: str, wire_kind: str) -> list[Requirement]:
    """A usage error naming the field and the supported ones when a field is unknown."""
    if not text.strip():
        return []
    supported = FIELDS[wire_kind]
    requirements = []
    for part in text.split(","):
        match = _REQUIREMENT.match(part)
        if match is None:
            raise click.BadParameter(
                f"{part!r} is not FIELD=VALUE or FIELD!=VALUE", param_hint="--field-selector"
            )
        field, op, value = match.groups()
        if field not in supported:
            raise click.BadParameter(
                f'field label not supported for {wire_kind}: "{field}"; supported: '
                + ", ".join(supported),
                param_hint="--field-selector",
            )
        requirements.append(Requirement(field, op != "!=", value))
    return requirements


def matches(requirements: list[Requirement], wire_kind: str, data: dict[str, Any]) -> bool:
    getters = FIELDS[wire_kind]
    return all((getters[r.field](data) == r.value) == r.equal for r in requirements)

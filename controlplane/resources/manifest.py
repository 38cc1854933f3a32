"""Reading manifests from YAML, with errors that name the file, the document and the field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from controlplane.resources.curtailment import Curtailment
from controlplane.resources.deployment import ModelDeployment
from controlplane.resources.meta import API_VERSION
from controlplane.resources.node import Node
from controlplane.resources.replica import Replica

Resource = Node | ModelDeployment | Replica | Curtailment
"""Any top-level resource (Event aside, which explains and is not state)."""

KINDS: dict[str, type[Resource]] = {
    "Node": Node,
    "ModelDeployment": ModelDeployment,
    "Replica": Replica,
    "Curtailment": Curtailment,
}


class ManifestError(ValueError):
    """A manifest that cannot be accepted.

    `problems` lists (where, reason) pairs; `where` names the source, the document
    and the field path, e.g. "fleet.yaml (document 2): spec.power.budgetKw".
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{where}: {reason}" for where, reason in problems))


def _at(source: str, path: str) -> str:
    return f"{source}: {path}" if path else source


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_manifest(doc: Mapping[str, Any], source: str = "manifest") -> Resource:
    """Validates one decoded manifest; raises ManifestError naming each bad field."""
    if not isinstance(doc, Mapping):
        raise ManifestError([(source, f"expected a mapping, got {type(doc).__name__}")])
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if api_version != API_VERSION:
        raise ManifestError(
            [(_at(source, "apiVersion"), f"must be {API_VERSION!r}, got {api_version!r}")]
        )
    model = KINDS.get(str(kind))
    if model is None:
        raise ManifestError(
            [(_at(source, "kind"), f"unknown kind {kind!r}; one of {', '.join(KINDS)}")]
        )
    try:
        return model.model_validate(dict(doc))
    except ValidationError as e:
        raise ManifestError(
            [(_at(source, _field_path(err["loc"])), err["msg"]) for err in e.errors()]
        ) from None


def _documents(text: str, source: str) -> Iterator[tuple[int, Any]]:
    try:
        for index, doc in enumerate(yaml.safe_load_all(text)):
            if doc is not None:
                yield index, doc
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ManifestError([(source, f"invalid YAML: {where}{problem}")]) from None


def load_manifests(text: str, source: str = "-") -> list[Resource]:
    """Parses multi-document YAML; every bad document is reported, not just the first."""
    resources: list[Resource] = []
    problems: list[tuple[str, str]] = []
    for index, doc in _documents(text, source):
        try:
            resources.append(parse_manifest(doc, f"{source} (document {index + 1})"))
        except ManifestError as e:
            problems.extend(e.problems)
    if problems:
        raise ManifestError(problems)
    return resources


def dump_yaml(resource: BaseModel) -> str:
    """The manifest as a user would write it: camelCase, no empty fields."""
    return yaml.safe_dump(
        resource.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False
    )

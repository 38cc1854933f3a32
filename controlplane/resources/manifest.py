"""Reading manifests from YAML, with errors that name the file, the document and the field."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from controlplane.errors import clip
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
        part = part if isinstance(part, int) else clip(part)
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _not_unicode(doc: Mapping[str, Any]) -> str | None:
    """The path of the first key or string that UTF-8 cannot encode, if any: YAML's
    "\\ud800" escape makes one, and it would fail only when sent."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and not _encodable(value):
            return path
        if isinstance(value, Mapping):
            for key, item in value.items():
                name = clip(str(key).encode(errors="backslashreplace").decode())
                where = f"{path}.{name}" if path else name
                if isinstance(key, str) and not _encodable(key):
                    return where
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def parse_manifest(doc: Mapping[str, Any], source: str = "manifest") -> Resource:
    """Validates one decoded manifest; raises ManifestError naming each bad field."""
    if not isinstance(doc, Mapping):
        raise ManifestError([(source, f"expected a mapping, got {type(doc).__name__}")])
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if api_version != API_VERSION:
        raise ManifestError(
            [(_at(source, "apiVersion"), f"must be {API_VERSION!r}, got {api_version!r}")]
        )
    if (where := _not_unicode(doc)) is not None:
        raise ManifestError(
            [(_at(source, where), "not valid Unicode text (a lone surrogate, such as \\ud800)")]
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


# Deeper than any manifest nests, and far from Python's recursion limit, which YAML's
# composer and the validators would otherwise reach (RecursionError, not an error message).
MAX_DEPTH = 64


def _check_depth(text: str, source: str) -> None:
    """Refuses YAML nested deeper than MAX_DEPTH, from parser events (which do not recurse)."""
    depth, document = 0, 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.DocumentStartEvent):
            document += 1
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
                raise ManifestError(
                    [
                        (
                            f"{source} (document {document})",
                            f"{where}nested more than {MAX_DEPTH} deep; no manifest nests so deep",
                        )
                    ]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _documents(text: str, source: str) -> Iterator[tuple[int, Any]]:
    if source.endswith(".json"):
        yield from _json_documents(text, source)
        return
    try:
        _check_depth(text, source)
        for index, doc in enumerate(yaml.safe_load_all(text)):
            if doc is not None:
                yield index, doc
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ManifestError([(source, f"invalid YAML: {where}{problem}")]) from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _json_documents(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """A .json file is JSON, strictly (no trailing commas, NaN or Infinity): one object or
    a list of them. YAML would accept what JSON tools refuse, so the file would mean one
    thing here and another there."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ManifestError(
            [(source, f"invalid JSON: line {e.lineno}, column {e.colno}: {e.msg}")]
        ) from None
    except RecursionError:
        raise ManifestError([(source, "invalid JSON: nested too deep to read")]) from None
    except ValueError as e:
        raise ManifestError([(source, f"invalid JSON: {e}")]) from None
    yield from enumerate(data if isinstance(data, list) else [data])


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

"""`tpctl explain`: the fields of a resource, read from its pydantic model, with their docs.

Types, enums, bounds and defaults come from the model itself; a field's
description is its `Field(description=...)`, else the docstring or trailing
comment beside it in the source, else the docstring of its type. So the
explanation is as current as the code that validates manifests.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from controlplane.cli.kinds import Kind
from controlplane.resources import API_VERSION, Curtailment, ModelDeployment, Node, Replica

MODELS: dict[str, type[BaseModel]] = {
    "Node": Node,
    "ModelDeployment": ModelDeployment,
    "Replica": Replica,
    "Curtailment": Curtailment,
}
INDENT = "   "


@dataclass(frozen=True)
class Field:
    name: str  # as in manifests (camelCase)
    type_text: str  # <string>, <[]Object>, <map[string]string>, ...
    doc: str
    required: bool
    nested: type[BaseModel] | None


@cache
def _source_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings and trailing `#` comments, by attribute name, from the class source."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    statements = body.body
    for index, node in enumerate(statements):
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        name = node.target.id
        following = statements[index + 1] if index + 1 < len(statements) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[name] = inspect.cleandoc(following.value.value)
            continue
        line = lines[(node.end_lineno or node.lineno) - 1]
        if "#" in line:
            docs[name] = line.split("#", 1)[1].strip()
    return docs


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The type inside Optional; and whether it was optional."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _type_text(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    annotation, _ = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set):
        inner, nested = _type_text(typing.get_args(annotation)[0])
        return "[]" + inner, nested
    if origin is dict:
        key, value = typing.get_args(annotation)
        return f"map[{_type_text(key)[0]}]{_type_text(value)[0]}", None
    if origin is Literal or (origin in (typing.Union, types.UnionType)):
        return "string", None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "Object", annotation
    if isinstance(annotation, type) and issubclass(annotation, bool):
        return "boolean", None
    if isinstance(annotation, type) and issubclass(annotation, int):
        return "integer", None
    if isinstance(annotation, type) and issubclass(annotation, float):
        return "number", None
    return "string", None


def _choices(annotation: Any) -> list[str]:
    annotation, _ = _unwrap(annotation)
    found: list[str] = []
    for arg in typing.get_args(annotation) if typing.get_origin(annotation) else ():
        if typing.get_origin(arg) is Literal:
            found += [str(v) for v in typing.get_args(arg) if v != ""]
    if typing.get_origin(annotation) is Literal:
        found += [str(v) for v in typing.get_args(annotation) if v != ""]
    if isinstance(annotation, type) and hasattr(annotation, "__members__"):
        found += [str(m.value) for m in annotation.__members__.values()]  # an Enum
    return found


def _bounds(info: FieldInfo) -> list[str]:
    words = {
        "ge": ">=",
        "gt": ">",
        "le": "<=",
        "lt": "<",
        "min_length": "min length",
        "max_length": "max length",
        "pattern": "pattern",
    }
    found = []
    for item in info.metadata:
        for attr, word in words.items():
            value = getattr(item, attr, None)
            if value is not None:
                found.append(f"{word} {value}")
    return found


def fields_of(model: type[BaseModel]) -> list[Field]:
    docs = _source_docs(model)
    out = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        type_text, nested = _type_text(annotation)
        parts = [info.description or docs.get(name, "")]
        if not parts[0] and nested is not None and nested.__doc__:
            parts[0] = inspect.cleandoc(nested.__doc__).split("\n\n")[0]
        choices = _choices(annotation)
        if choices:
            parts.append("One of: " + ", ".join(choices) + ".")
        bounds = _bounds(info)
        if bounds:
            parts.append("Must be " + ", ".join(bounds) + ".")
        if (
            not info.is_required()
            and info.default not in (None, "", [], {})
            and not callable(info.default_factory)
        ):
            default = info.default
            parts.append(f"Default: {getattr(default, 'value', default)}.")
        out.append(
            Field(
                name=info.alias or name,
                type_text=f"<{type_text}>",
                doc=" ".join(p for p in parts if p),
                required=info.is_required(),
                nested=nested,
            )
        )
    return out


def resolve(kind: Kind, path: list[str]) -> tuple[type[BaseModel], Field | None]:
    """The model at `path` below the kind, and the field that leads there (None at the top)."""
    import click

    model = MODELS[kind.wire]
    field: Field | None = None
    walked = [kind.singular]
    for part in path:
        match = next((f for f in fields_of(model) if f.name.lower() == part.lower()), None)
        if match is None:
            known = ", ".join(f.name for f in fields_of(model))
            raise click.BadParameter(
                f'field "{part}" does not exist in {".".join(walked)}; its fields: {known}',
                param_hint="TYPE.FIELD",
            )
        walked.append(match.name)
        field = match
        if match.nested is None:
            return model, field
        model = match.nested
    return model, field


def render(kind: Kind, path: list[str], *, recursive: bool) -> str:
    model, field = resolve(kind, path)
    lines = [f"KIND:     {kind.wire}", f"VERSION:  {API_VERSION}", ""]
    if field is not None:
        lines += [f"FIELD:    {field.name} {field.type_text}", ""]
        doc = field.doc
    else:
        doc = inspect.cleandoc(model.__doc__ or "")
    if doc:
        lines += [
            "DESCRIPTION:",
            *textwrap.wrap(doc, 76, initial_indent="     ", subsequent_indent="     "),
            "",
        ]
    if field is not None and field.nested is None:
        return "\n".join(lines).rstrip() + "\n"
    lines.append("FIELDS:")
    _fields(model, lines, depth=1, recursive=recursive, seen=set())
    return "\n".join(lines).rstrip() + "\n"


def _fields(
    model: type[BaseModel], lines: list[str], *, depth: int, recursive: bool, seen: set[type]
) -> None:
    for f in fields_of(model):
        required = " -required-" if f.required else ""
        lines.append(f"{INDENT * depth}{f.name}\t{f.type_text}{required}")
        if recursive:
            if f.nested is not None and f.nested not in seen:
                _fields(f.nested, lines, depth=depth + 1, recursive=True, seen=seen | {f.nested})
            continue
        lines += textwrap.wrap(
            f.doc or "(no description)",
            76,
            initial_indent=INDENT * depth + "  ",
            subsequent_indent=INDENT * depth + "  ",
        )
        lines.append("")

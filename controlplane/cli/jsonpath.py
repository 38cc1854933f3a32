"""kubectl's JSONPath: `-o jsonpath=TEMPLATE`, `custom-columns` and `--sort-by`, on jsonpath-ng.

kubectl writes paths relative to the object (`.metadata.name`, `{.items[*].spec}`),
escapes dots inside keys (`.metadata.labels.tokenplane\\.io/tier`) and builds
templates from `{...}` expressions, `{range EXPR}...{end}` and string literals
(`{"\\n"}`). This module turns those into jsonpath-ng expressions (filters such
as `[?(@.status.phase=="Running")]` included) and evaluates them; the parsing
of paths is jsonpath-ng's, only kubectl's template syntax around them is ours.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import click

_ESCAPED_KEY = re.compile(r"(?<=\.)((?:[^.\[\]\\\"']|\\\.)*\\\.(?:[^.\[\]\"']|\\\.)*)")
_TOKEN = re.compile(r"\{((?:[^{}\"]|\"(?:[^\"\\]|\\.)*\")*)\}")


class JsonPathError(click.BadParameter):
    """A template or path that does not parse; a usage error naming it."""


def _to_jsonpath_ng(path: str) -> str:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    text = _ESCAPED_KEY.sub(lambda m: '"' + m[1].replace("\\.", ".") + '"', text)
    if text.startswith("$"):
        return text
    if text.startswith("["):
        return "$" + text
    if not text.startswith("."):
        text = "." + text
    return "$" + text


@cache
def compile_path(path: str) -> Any:
    """A jsonpath-ng expression for a kubectl path; JsonPathError if it does not parse."""
    from jsonpath_ng.ext import parse

    try:
        return parse(_to_jsonpath_ng(path))
    except Exception as e:  # jsonpath-ng raises bare Exceptions from its lexer and parser
        raise JsonPathError(f"{path!r} is not a JSONPath expression: {e}") from None


def find(path: str, data: Any) -> list[Any]:
    """Every value `path` matches in `data` (a manifest dict), in document order."""
    return [match.value for match in compile_path(path).find(data)]


def text_of(value: Any) -> str:
    """How kubectl prints a value: strings bare, numbers and booleans as JSON, maps as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # as Go prints a float64: 100, not 100.0
    return json.dumps(value, separators=(",", ":"))


def _tokens(template: str) -> list[tuple[str, str]]:
    """(kind, text) pieces: ("text", ...), ("path", ...), ("literal", ...), ("range", ...),
    ("end", "")."""
    pieces: list[tuple[str, str]] = []
    at = 0
    for match in _TOKEN.finditer(template):
        if match.start() > at:
            pieces.append(("text", template[at : match.start()]))
        inner = match[1].strip()
        if inner.startswith('"'):
            try:
                pieces.append(("literal", json.loads(inner, strict=False)))
            except json.JSONDecodeError:
                raise JsonPathError(f"{inner} is not a string literal") from None
        elif inner == "end":
            pieces.append(("end", ""))
        elif inner.startswith("range "):
            pieces.append(("range", inner.removeprefix("range ").strip()))
        else:
            pieces.append(("path", inner))
        at = match.end()
    if at < len(template):
        pieces.append(("text", template[at:]))
    if template.count("{") != template.count("}"):
        raise JsonPathError(f"JSONPath template {template!r}: unbalanced braces")
    return pieces


def render(template: str, data: Any) -> str:
    """A kubectl JSONPath template over `data`: paths print their matches separated by
    spaces, `{range}` repeats its body per match, literals and plain text print as given."""
    pieces = _tokens(template)
    out: list[str] = []

    def run(start: int, scope: Any) -> int:
        """Renders pieces from `start` until the matching `end`; returns the index after it."""
        index = start
        while index < len(pieces):
            kind, text = pieces[index]
            if kind == "end":
                return index + 1
            if kind == "range":
                items = find(text, scope)
                body_end = _skip(pieces, index + 1)
                for item in items:
                    run(index + 1, item)
                index = body_end
                continue
            if kind in ("text", "literal"):
                out.append(text)
            else:
                out.append(" ".join(text_of(v) for v in find(text, scope)))
            index += 1
        return index

    run(0, data)
    return "".join(out)


def _skip(pieces: list[tuple[str, str]], start: int) -> int:
    """The index after the `end` that closes a range whose body starts at `start`."""
    depth = 1
    for index in range(start, len(pieces)):
        if pieces[index][0] == "range":
            depth += 1
        elif pieces[index][0] == "end":
            depth -= 1
            if depth == 0:
                return index + 1
    raise JsonPathError("{range} without {end}")

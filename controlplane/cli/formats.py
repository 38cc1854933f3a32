"""`-o` for `tpctl get`, as kubectl takes it: table, wide, json, yaml, name, `jsonpath=TEMPLATE`,
`custom-columns=HEADER:PATH,...` and `custom-columns-file=FILE`.

A custom-columns file is kubectl's: a line of headers and a line of paths,
separated by whitespace. A path that matches nothing prints `<none>`; several
matches print joined by commas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

PLAIN_FORMATS = ("table", "wide", "json", "yaml", "name")
TEMPLATE_FORMATS = ("jsonpath", "custom-columns", "custom-columns-file")
NO_VALUE = "<none>"


@dataclass(frozen=True, slots=True)
class OutputFormat:
    name: str  # one of PLAIN_FORMATS, "jsonpath" or "custom-columns"
    template: str = ""  # the JSONPath template, or the custom-columns spec

    @property
    def tabular(self) -> bool:
        return self.name in ("table", "wide", "custom-columns")


def custom_columns(spec: str) -> list[tuple[str, str]]:
    """`NAME:.metadata.name,NODE:.spec.nodeName` into (header, path) pairs."""
    columns = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header.strip() or not path.strip():
            raise click.BadParameter(
                f"custom-columns: {part!r} is not HEADER:JSONPATH "
                "(e.g. custom-columns=NAME:.metadata.name,NODE:.spec.nodeName)",
                param_hint="-o",
            )
        columns.append((header.strip(), path.strip()))
    return columns


def columns_file(text: str, where: str) -> str:
    """A kubectl custom-columns file (headers on one line, paths on the next) as a spec."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) != 2 or len(lines[0]) != len(lines[1]):
        raise click.BadParameter(
            f"{where}: a custom-columns file has two lines, headers and JSONPaths, "
            "with as many of each",
            param_hint="-o",
        )
    return ",".join(f"{h}:{p}" for h, p in zip(lines[0], lines[1], strict=True))


class OutputFormatType(click.ParamType):
    name = "format"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> OutputFormat:
        if isinstance(value, OutputFormat):
            return value
        text = str(value)
        if text in PLAIN_FORMATS:
            return OutputFormat(text)
        name, sep, arg = text.partition("=")
        if name in TEMPLATE_FORMATS and sep and arg:
            if name == "custom-columns-file":
                path = Path(arg).expanduser()
                try:
                    arg = columns_file(path.read_text(), str(path))
                except OSError as e:
                    self.fail(f"cannot read {path}: {e.strerror}", param, ctx)
                name = "custom-columns"
            if name == "custom-columns":
                custom_columns(arg)  # fail now, before asking the server
            else:
                from controlplane.cli.jsonpath import render

                render(arg, {})  # a template that does not parse fails before the request
            return OutputFormat(name, arg)
        known = ", ".join(PLAIN_FORMATS) + ", jsonpath=TEMPLATE, custom-columns=SPEC, "
        self.fail(f"{text!r} is not an output format; one of {known}custom-columns-file=FILE")


OUTPUT_FORMAT = OutputFormatType()


def get_output_option() -> Any:
    return click.option(
        "-o",
        "--output",
        type=OUTPUT_FORMAT,
        default="table",
        show_default=True,
        metavar="FORMAT",
        help="table, wide (more columns), json, yaml, name (TYPE/NAME), jsonpath=TEMPLATE "
        "(e.g. '{.items[*].metadata.name}'), custom-columns=HEADER:JSONPATH,... or "
        "custom-columns-file=FILE.",
    )

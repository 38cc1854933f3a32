"""Options shared by many commands, and the global flags kubectl users type anywhere.

`--context`, `--server`, `--token`, `--config-file` and `--request-timeout` are
read from the environment once, on the root group, and may be repeated after the
subcommand (`tpctl get nodes --context prod`), where the command line wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from controlplane.cli.completion import (
    complete_context,
    complete_deployment,
    complete_node,
    complete_replica,
    complete_resource,
)
from controlplane.cli.settings import DEFAULT_REQUEST_TIMEOUT_S, Globals, globals_of

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_FORMATS = ("table", "wide", "json", "yaml", "name")


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


class Duration(click.ParamType):
    """Go-style durations as kubectl takes them: `90s`, `5m`, `1h30m`; a bare number is seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration such as 30s, 5m or 1h30m", param, ctx)
        return sum(float(n) * _UNITS[u] for n, u in parts)


DURATION = Duration()

# (name, flag declarations, environment variable, type, help)
_GLOBAL_FLAGS: list[tuple[str, tuple[str, ...], str | None, Any, str]] = [
    (
        "context",
        ("--context",),
        "TPCTL_CONTEXT",
        str,
        "Context of the config file to use [env TPCTL_CONTEXT].",
    ),
    (
        "server",
        ("--server", "-s"),
        "TOKENPLANE_SERVER",
        str,
        "HOST:PORT of the control plane; overrides the context's [env TOKENPLANE_SERVER].",
    ),
    (
        "token",
        ("--token",),
        "TOKENPLANE_TOKEN",
        str,
        "Bearer token for the Fleet API; overrides the context's [env TOKENPLANE_TOKEN].",
    ),
    (
        "config_file",
        ("--config-file",),
        "TPCTL_CONFIG",
        click.Path(dir_okay=False, path_type=Path),
        "Config file [env TPCTL_CONFIG; default ~/.config/tokenplane/config.yaml].",
    ),
    (
        "request_timeout_s",
        ("--request-timeout",),
        None,
        DURATION,
        "How long to wait for the server to answer, e.g. 10s [default 30s].",
    ),
]


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is None or param.name is None:
        return
    settings = globals_of(ctx)
    setattr(settings, param.name, value)
    if param.name == "server":
        from_env = ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT
        settings.server_source = "TOKENPLANE_SERVER" if from_env else "--server"


def global_options(*, root: bool = False, exclude: tuple[str, ...] = ()) -> Callable[[F], F]:
    """The global flags: read from the environment on the root group, hidden on subcommands.

    `exclude` leaves out those a subcommand has its own meaning for
    (`tpctl config set-context --server`).
    """

    def decorate(f: F) -> F:
        for name, decls, envvar, type_, help_ in reversed(_GLOBAL_FLAGS):
            if name in exclude:
                continue
            f = click.option(
                *decls,
                name,
                type=type_,
                envvar=envvar if root else None,
                help=help_,
                hidden=not root,
                expose_value=False,
                is_eager=True,
                callback=_remember,
                shell_complete=complete_context if name == "context" else None,
            )(f)
        return f

    return decorate


_FORMAT_HELP = {"wide": "wide (more columns)", "name": "name (TYPE/NAME)"}


def output_option(formats: tuple[str, ...] = OUTPUT_FORMATS) -> Callable[[F], F]:
    described = ", ".join(_FORMAT_HELP.get(f, f) for f in formats)
    return click.option(
        "-o",
        "--output",
        type=click.Choice(formats),
        default=formats[0],
        show_default=True,
        help=f"Output format: {described}.",
    )


selector_option = click.option(
    "-l",
    "--selector",
    default="",
    metavar="SELECTOR",
    help="Label selector, e.g. -l tier=edge,region!=us-east or -l 'site in (a,b)'.",
)


def filename_option(*, required: bool) -> Callable[[F], F]:
    return click.option(
        "-f",
        "--filename",
        "filenames",
        multiple=True,
        required=required,
        metavar="FILE|DIR|-",
        help="Manifest file, directory of .yaml/.yml/.json files, or - for stdin. Repeatable.",
    )


recursive_option = click.option(
    "-R", "--recursive", is_flag=True, help="Read directories given with -f recursively."
)

type_argument = click.argument(
    "args", nargs=-1, metavar="TYPE [NAME...]", shell_complete=complete_resource
)

GLOBAL_OPTIONS_EPILOG = (
    "Global options (--context, --server, --token, --config-file, --request-timeout) "
    "work after the command too; see tpctl --help."
)

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT_S",
    "DURATION",
    "GLOBAL_OPTIONS_EPILOG",
    "Globals",
    "complete_deployment",
    "complete_node",
    "complete_replica",
    "filename_option",
    "global_options",
    "globals_of",
    "output_option",
    "recursive_option",
    "selector_option",
    "type_argument",
]

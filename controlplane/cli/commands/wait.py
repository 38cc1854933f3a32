"""`tpctl wait`: block until objects meet a condition, a JSONPath value, or are deleted."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import click

from controlplane.cli.params import (
    DURATION,
    GLOBAL_OPTIONS_EPILOG,
    global_options,
    selector_option,
    type_argument,
)

POLL_S = 0.5


@dataclass(frozen=True)
class Wanted:
    """What `--for` asked: a condition (type, status), a JSONPath (path, value) or deletion."""

    condition: str = ""
    status: str = "True"
    path: str = ""
    value: str | None = None  # None: the path just has to match something
    delete: bool = False

    def describe(self) -> str:
        return "deleted" if self.delete else "condition met"


def parse_for(text: str) -> Wanted:
    """`condition=Ready`, `condition=Ready=false`, `jsonpath={.status.phase}=Running`,
    `jsonpath={.status.endpoint}`, `delete`."""
    if text == "delete":
        return Wanted(delete=True)
    kind, sep, rest = text.partition("=")
    if kind == "condition" and sep and rest:
        condition, _, status = rest.partition("=")
        status = {"true": "True", "false": "False", "unknown": "Unknown"}.get(
            status.lower(), status or "True"
        )
        return Wanted(condition=condition, status=status)
    if kind == "jsonpath" and sep and rest:
        close = rest.rfind("}")
        if close < 0:  # a bare path: .status.phase=Running
            path, eq, value_text = rest.partition("=")
            value = value_text if eq else None
        else:
            path, tail = rest[: close + 1], rest[close + 1 :]
            value = tail[1:] if tail.startswith("=") else None
        from controlplane.cli.jsonpath import compile_path

        compile_path(path)
        return Wanted(path=path, value=value)
    raise click.BadParameter(
        f"{text!r}: give condition=NAME[=STATUS], jsonpath=PATH[=VALUE] or delete",
        param_hint="--for",
    )


def _condition(data: dict[str, Any], kind: str, condition: str) -> str:
    """A condition's status; `Ready` is derived where the kind has no such condition."""
    status = data.get("status", {})
    for c in status.get("conditions", []):
        if c.get("type", "").lower() == condition.lower():
            return str(c.get("status", "Unknown"))
    if condition.lower() == "ready":
        if kind == "ModelDeployment":
            done = status.get("readyReplicas", 0) >= data.get("spec", {}).get("replicas", 1)
            return "True" if done else "False"
        if kind == "Replica":
            return "True" if status.get("phase") == "Running" else "False"
    return "Unknown"


def met(wanted: Wanted, kind: str, data: dict[str, Any] | None) -> bool:
    if wanted.delete:
        return data is None
    if data is None:
        return False
    if wanted.condition:
        return _condition(data, kind, wanted.condition) == wanted.status
    from controlplane.cli.jsonpath import find, text_of

    values = [text_of(v) for v in find(wanted.path, data)]
    return bool(values) if wanted.value is None else wanted.value in values


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@type_argument
@click.option(
    "--for",
    "for_",
    required=True,
    metavar="CONDITION",
    help="condition=NAME[=STATUS], jsonpath=PATH[=VALUE] or delete.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=DURATION,
    default="30s",
    show_default=True,
    help="Give up after this long (exit 1).",
)
@selector_option
@click.option("--all", "all_", is_flag=True, help="Every object of TYPE.")
@global_options()
@click.pass_context
def wait(
    ctx: click.Context,
    args: tuple[str, ...],
    for_: str,
    timeout_s: float,
    selector: str,
    all_: bool,
) -> None:
    """Wait until objects meet a condition, have a JSONPath value, or are gone.

    Ready is a node's Ready condition, a deployment's ready replicas reaching
    the desired count, a replica's phase Running. Exit 0 when every object
    meets it; 1 at the timeout, naming those that did not.

    \b
    Examples:
      tpctl wait deployment/chat-eu --for=condition=Ready --timeout=2m
      tpctl wait nodes --all --for=condition=Ready
      tpctl wait replica chat-eu-1a2b3c --for=jsonpath='{.status.phase}'=Running
      tpctl wait deploy chat-eu --for=delete
    """
    from controlplane.cli.client import connect
    from controlplane.cli.errors import CliError
    from controlplane.cli.kinds import BY_WIRE, split_args
    from controlplane.cli.output import manifest

    wanted = parse_for(for_)
    client = connect(ctx)
    targets: list[tuple[str, str]] = []
    for kind, name in split_args(args):
        if name:
            targets.append((kind.wire, name))
        elif all_ or selector:
            targets += [(kind.wire, r.name) for r in client.list(kind.wire, selector)[0]]
        else:
            raise click.UsageError(f"give NAMEs, -l SELECTOR or --all to wait for {kind.plural}")
    if not targets:
        raise CliError("no matching resources found")
    deadline = time.monotonic() + timeout_s
    pending = list(targets)
    while True:
        still = []
        for wire, name in pending:
            live = client.find(wire, name)
            if met(wanted, wire, manifest(live) if live is not None else None):
                click.echo(f"{BY_WIRE[wire].singular}/{name} {wanted.describe()}")
            else:
                still.append((wire, name))
        pending = still
        if not pending:
            return
        if time.monotonic() >= deadline:
            names = ", ".join(f"{BY_WIRE[k].singular}/{n}" for k, n in pending)
            raise CliError(f"timed out waiting for the condition on {names}")
        time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

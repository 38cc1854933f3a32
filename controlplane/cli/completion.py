"""Shell completion of names the server or the config file knows: nodes, replicas, contexts.

A tab press is never an error: when the server cannot be asked, nothing is
offered. Client and config are imported only when a completion runs, so that
declaring these callbacks on options costs nothing at start-up.
"""

from __future__ import annotations

import click

from controlplane.cli.kinds import complete_type
from controlplane.cli.kinds import resolve as resolve_kind
from controlplane.cli.settings import globals_of

COMPLETION_TIMEOUT_S = 2.0


def _names(ctx: click.Context, wire_kind: str, incomplete: str) -> list[str]:
    """Names the server has of a kind; nothing if it cannot be asked."""
    from controlplane.cli.client import FleetClient
    from controlplane.cli.config import resolve

    try:
        client = FleetClient(resolve(globals_of(ctx)), timeout_s=COMPLETION_TIMEOUT_S)
        items, _ = client.list(wire_kind)
    except click.ClickException:
        return []
    return [item.name for item in items if item.name.startswith(incomplete)]


def complete_resource(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """TYPE first, then the names the server has of that type."""
    typed = ctx.params.get(param.name or "") or ()
    if not typed:
        return complete_type(ctx, param, incomplete)
    try:
        kind = resolve_kind(typed[0])
    except click.BadParameter:
        return []
    return _names(ctx, kind.wire, incomplete)


def complete_node(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return _names(ctx, "Node", incomplete)


def complete_replica(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return _names(ctx, "Replica", incomplete)


def complete_deployment(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return _names(ctx, "ModelDeployment", incomplete)


def complete_context(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Context names in the config file (`--context`, `config use-context NAME`)."""
    from controlplane.cli.config import default_config_path, load

    settings = globals_of(ctx)
    try:
        config = load(settings.config_file or default_config_path())
    except click.ClickException:
        return []
    return [c.name for c in config.contexts if c.name.startswith(incomplete)]

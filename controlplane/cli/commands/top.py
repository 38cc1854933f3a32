"""`tpctl top`: where the power goes now, how clean it is, and how busy the GPUs are."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from controlplane.cli.kinds import DEPLOYMENT, NODE, complete_type, resolve
from controlplane.cli.params import (
    GLOBAL_OPTIONS_EPILOG,
    Duration,
    global_options,
    selector_option,
)

if TYPE_CHECKING:
    from controlplane.cli.client import FleetClient
    from controlplane.cli.output import Column

NODE_SORT_KEYS = (
    "name",
    "power",
    "power%",
    "gpu",
    "gpu%",
    "renewable",
    "renewable%",
    "carbon",
    "carbon-basis",
    "co2",
    "cost",
)
DEPLOYMENT_SORT_KEYS = (
    "name",
    "ready",
    "gpu",
    "power",
    "carbon",
    "co2",
    "carbon-per-token",
    "carbon-basis",
    "power-from",
    "rtt",
)


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("type_", metavar="nodes|deployments", shell_complete=complete_type)
@selector_option
@click.option(
    "--sort-by",
    type=click.Choice(sorted({*NODE_SORT_KEYS, *DEPLOYMENT_SORT_KEYS})),
    help="Sort by this figure, biggest first (name: A to Z). Nodes: "
    f"{', '.join(NODE_SORT_KEYS)}. Deployments: {', '.join(DEPLOYMENT_SORT_KEYS)}.",
)
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="Refresh every --interval until interrupted (on a terminal, in place).",
)
@click.option(
    "--interval",
    type=Duration(),
    default="2s",
    show_default=True,
    help="Time between refreshes with --watch.",
)
@global_options()
@click.pass_context
def top(
    ctx: click.Context, type_: str, selector: str, sort_by: str | None, watch: bool, interval: float
) -> None:
    """Show live energy and GPU use of nodes or deployments.

    \b
    Nodes: IT power draw and its share of the budget, GPUs in use, renewable
    supply and the share of the draw it covers, grid carbon intensity, and the
    CO2 (of the draw renewables do not cover) and cost per hour.
    Deployments: GPUs, power, carbon and CO2 of their serving replicas, and
    p95 RTT to their users.

    \b
    Examples:
      tpctl top nodes
      tpctl top nodes --sort-by co2 -l tier=factory
      tpctl top deployments --sort-by power
      tpctl top nodes --sort-by renewable% --watch   # follow the sun
    """
    from controlplane.cli.client import connect
    from controlplane.cli.top_view import TOP_COLUMNS

    kind = resolve(type_, (NODE, DEPLOYMENT))
    columns = TOP_COLUMNS[kind.wire]
    if sort_by is not None and sort_by not in columns:
        raise click.BadParameter(
            f"{sort_by!r} is not a figure of {kind.plural}; one of {', '.join(columns)}",
            param_hint="--sort-by",
        )
    client = connect(ctx)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a watch, as with kubectl
        _show(client, kind.wire, selector, columns, sort_by, watch, interval)


def _show(
    client: FleetClient,
    wire_kind: str,
    selector: str,
    columns: dict[str, Column[Any]],
    sort_by: str | None,
    watch: bool,
    interval: float,
) -> None:
    from controlplane.cli.metrics import metered_nodes
    from controlplane.cli.output import print_rows
    from controlplane.cli.top_view import deployment_top, node_kinds, sort
    from controlplane.resources import Node

    while True:
        items, _ = client.list(wire_kind, selector)
        if wire_kind == "ModelDeployment":  # carbon kinds and meters are the nodes'
            nodes = [n for n in client.list("Node")[0] if isinstance(n, Node)]
            columns = deployment_top(node_kinds(nodes), metered_nodes(nodes))
        if sort_by is not None:
            items = sort(items, columns[sort_by])
        if watch and sys.stdout.isatty():
            click.clear()
        if items:
            print_rows(list(columns.values()), items, wide=False)
        else:
            click.echo("No resources found.", err=True)
        if not watch:
            return
        click.echo("")
        time.sleep(interval)

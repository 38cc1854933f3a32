"""`tpctl top`: where the power goes now, how clean it is, and how busy the GPUs are."""

from __future__ import annotations

import click

from controlplane.cli.kinds import DEPLOYMENT, NODE, complete_type, resolve
from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options, selector_option

NODE_SORT_KEYS = ("name", "power", "power%", "gpu", "gpu%", "renewable", "renewable%", "carbon",
                  "co2", "cost")
DEPLOYMENT_SORT_KEYS = ("name", "ready", "gpu", "power", "carbon", "co2", "carbon-per-token",
                        "rtt")


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("type_", metavar="nodes|deployments", shell_complete=complete_type)
@selector_option
@click.option("--sort-by", type=click.Choice(sorted({*NODE_SORT_KEYS, *DEPLOYMENT_SORT_KEYS})),
              help="Sort by this figure, biggest first (name: A to Z). Nodes: "
              f"{', '.join(NODE_SORT_KEYS)}. Deployments: {', '.join(DEPLOYMENT_SORT_KEYS)}.")
@global_options()
@click.pass_context
def top(ctx: click.Context, type_: str, selector: str, sort_by: str | None) -> None:
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
    """
    from controlplane.cli.client import connect
    from controlplane.cli.output import print_rows
    from controlplane.cli.top_view import TOP_COLUMNS, sort

    kind = resolve(type_, (NODE, DEPLOYMENT))
    columns = TOP_COLUMNS[kind.wire]
    if sort_by is not None and sort_by not in columns:
        raise click.BadParameter(
            f"{sort_by!r} is not a figure of {kind.plural}; one of {', '.join(columns)}",
            param_hint="--sort-by",
        )
    items, _ = connect(ctx).list(kind.wire, selector)
    if sort_by is not None:
        items = sort(items, columns[sort_by])
    if not items:
        click.echo("No resources found.", err=True)
        return
    print_rows(list(columns.values()), items, wide=False)

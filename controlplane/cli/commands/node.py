"""`tpctl cordon`, `uncordon` and `drain`: take a node out of placement, and empty it."""

from __future__ import annotations

import click

from controlplane.cli.errors import CliError
from controlplane.cli.params import (
    DURATION,
    GLOBAL_OPTIONS_EPILOG,
    complete_node,
    global_options,
    selector_option,
)

DEFAULT_DRAIN_TIMEOUT = "5m"
# Phases of a replica that has left, or is leaving, its node.
GONE = ("Terminating", "Failed")

nodes_argument = click.argument("names", nargs=-1, metavar="NODE...", shell_complete=complete_node)


def _set_cordon(ctx: click.Context, names: tuple[str, ...], selector: str, cordoned: bool) -> None:
    from controlplane.cli.client import connect
    from controlplane.resources import Node

    if bool(names) == bool(selector):
        raise click.UsageError("give NODE names or -l SELECTOR (one of them)")
    client = connect(ctx)
    nodes = [client.get("Node", name) for name in names] or client.list("Node", selector)[0]
    verb = "cordoned" if cordoned else "uncordoned"
    for node in nodes:
        assert isinstance(node, Node)
        if node.spec.unschedulable == cordoned:
            click.echo(f"node/{node.name} already {verb}")
            continue
        client.cordon(node.name, cordoned=cordoned)
        click.echo(f"node/{node.name} {verb}")


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@nodes_argument
@selector_option
@global_options()
@click.pass_context
def cordon(ctx: click.Context, names: tuple[str, ...], selector: str) -> None:
    """Mark nodes unschedulable: no new replica is placed on them; running ones stay.

    \b
    Examples:
      tpctl cordon edge-7
      tpctl cordon -l site=lisbon-2
    """
    _set_cordon(ctx, names, selector, True)


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@nodes_argument
@selector_option
@global_options()
@click.pass_context
def uncordon(ctx: click.Context, names: tuple[str, ...], selector: str) -> None:
    """Mark nodes schedulable again.

    \b
    Examples:
      tpctl uncordon edge-7
    """
    _set_cordon(ctx, names, selector, False)


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("name", metavar="NODE", shell_complete=complete_node)
@click.option(
    "--timeout",
    "timeout_s",
    type=DURATION,
    default=DEFAULT_DRAIN_TIMEOUT,
    show_default=True,
    help="Give up after this long, e.g. 90s or 10m.",
)
@global_options()
@click.pass_context
def drain(ctx: click.Context, name: str, timeout_s: float) -> None:
    """Cordon a node and move its replicas away, waiting until they run elsewhere.

    Replicas move make-before-break: each new replica is Running on another
    node before the old one stops, so the model keeps serving. If the drain
    does not finish within --timeout the node stays cordoned; run drain again
    or uncordon it.

    \b
    Examples:
      tpctl drain factory-lisbon-1
      tpctl drain edge-7 --timeout 10m
    """
    from controlplane.cli.client import connect
    from controlplane.resources import Replica

    client = connect(ctx)
    client.cordon(name, cordoned=True)  # what Drain does first, said before the wait
    click.echo(f"node/{name} cordoned")
    try:
        moved = client.drain(name, timeout_s)
    except CliError as e:
        raise CliError(
            f"drain of node/{name} did not finish: {e.detail}\n"
            f"node/{name} stays cordoned: run tpctl drain again (perhaps with a longer "
            f"--timeout) or tpctl uncordon {name}",
            reason=e.reason,
        ) from None
    for move in moved:
        click.echo(f"replica {move}")
    replicas, _ = client.list("Replica")
    left = [
        r.name
        for r in replicas
        if isinstance(r, Replica) and r.spec.node_name == name and r.status.phase not in GONE
    ]
    if left:
        raise CliError(
            f"node/{name} is cordoned but still runs {', '.join(sorted(left))}; "
            "see tpctl describe node " + name
        )
    click.echo(f"node/{name} drained")

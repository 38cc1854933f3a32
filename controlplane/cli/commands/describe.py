"""`tpctl describe`: one object in detail, with each replica's placement and recent events."""

from __future__ import annotations

import click

from controlplane.cli.params import (
    GLOBAL_OPTIONS_EPILOG,
    global_options,
    selector_option,
    type_argument,
)

EVENTS_SHOWN = 20


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@type_argument
@selector_option
@global_options()
@click.pass_context
def describe(ctx: click.Context, args: tuple[str, ...], selector: str) -> None:
    """Show a node, deployment or replica in detail, and why it is the way it is.

    Prints the spec, the status with its conditions, live energy (nodes), the
    placement explanation of each replica (RTT to demand, grid carbon,
    renewables, headroom, score, and how many nodes each filter rejected), and
    the object's recent events. Without a NAME, describes every object of TYPE.

    \b
    Examples:
      tpctl describe node edge-7
      tpctl describe deployment llama-eu
      tpctl describe deploy -l team=search
    """
    from controlplane.cli import describe_view
    from controlplane.cli.client import connect
    from controlplane.cli.kinds import split_args
    from controlplane.cli.metrics import metered_nodes
    from controlplane.cli.top_view import node_kinds
    from controlplane.resources import Curtailment, ModelDeployment, Node, Replica

    client = connect(ctx)
    objects = []
    for kind, name in split_args(args):
        if name:
            objects.append(client.get(kind.wire, name))
        else:
            objects.extend(client.list(kind.wire, selector)[0])
    if not objects:
        click.echo("No resources found.", err=True)
    replicas: list[Replica] | None = None
    curtailments: list[Curtailment] | None = None
    kinds: dict[str, str] | None = None  # each node's carbon kind, for deployments
    metered: dict[str, tuple[float, int]] = {}  # nodes with NVML's GPU power, for deployments
    for index, item in enumerate(objects):
        if index:
            click.echo()
        events = list(client.events(item.kind, item.name, limit=EVENTS_SHOWN))
        if isinstance(item, Node):
            if replicas is None:
                replicas = [r for r in client.list("Replica")[0] if isinstance(r, Replica)]
            on_node = [r for r in replicas if r.spec.node_name == item.name]
            if curtailments is None:
                listed = client.list("Curtailment")[0]
                curtailments = [c for c in listed if isinstance(c, Curtailment)]
            held = [c for c in curtailments if c.spec.node_name == item.name]
            describe_view.describe_node(item, on_node, events, held)
        elif isinstance(item, ModelDeployment):
            if kinds is None:
                nodes = [n for n in client.list("Node")[0] if isinstance(n, Node)]
                kinds, metered = node_kinds(nodes), metered_nodes(nodes)
            describe_view.describe_deployment(item, events, kinds, metered)
        elif isinstance(item, Replica):
            describe_view.describe_replica(item, events)
        else:
            describe_view.describe_curtailment(item, events)

"""`tpctl get`: list or fetch resources, in any output format, and watch them change."""

from __future__ import annotations

import click

from controlplane.cli.formats import OutputFormat, get_output_option
from controlplane.cli.params import (
    GLOBAL_OPTIONS_EPILOG,
    global_options,
    selector_option,
    type_argument,
)


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@type_argument
@get_output_option()
@selector_option
@click.option(
    "--field-selector",
    default="",
    metavar="SELECTOR",
    help="Select by field, e.g. status.phase=Running,spec.nodeName=edge-7 "
    "(metadata.name, status.phase, status.ready, spec.nodeName, ...; = == !=).",
)
@click.option(
    "--sort-by",
    default="",
    metavar="JSONPATH",
    help="Sort by a field of the manifest, e.g. .metadata.name or "
    "'{.status.energy.carbonGPerKwh}'; numbers numerically.",
)
@click.option("--no-headers", is_flag=True, help="Print tables without the header line.")
@click.option("--show-labels", is_flag=True, help="Add a LABELS column.")
@click.option(
    "-L",
    "--label-columns",
    multiple=True,
    metavar="KEY[,KEY]",
    help="A column per label key, e.g. -L tier or -L team,tokenplane.io/pool. Repeatable.",
)
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="After listing, print each change as it happens, until Ctrl-C.",
)
@click.option("--watch-only", is_flag=True, help="Print changes only, not the list first.")
@click.option(
    "--output-watch-events",
    is_flag=True,
    help="With --watch, show the kind of change: ADDED, MODIFIED or DELETED.",
)
@global_options()
@click.pass_context
def get(
    ctx: click.Context,
    args: tuple[str, ...],
    output: OutputFormat,
    selector: str,
    field_selector: str,
    sort_by: str,
    no_headers: bool,
    show_labels: bool,
    label_columns: tuple[str, ...],
    watch: bool,
    watch_only: bool,
    output_watch_events: bool,
) -> None:
    """Show nodes, deployments, replicas, routes or regions.

    TYPE is nodes (no), deployments (deploy, md), replicas (rep), routes (a
    deployment's demand to replica assignments) or regions (what a demand
    point's `region` may name); give NAMEs, or TYPE/NAME pairs as `-o name`
    prints them, to show only those.

    \b
    Nodes show tier, region, readiness, free/total GPUs, IT power draw/budget,
    the share of that draw renewables cover, and grid carbon. Deployments show
    ready/desired replicas, the nodes they run on, p95 RTT to their users and
    gCO2 per million tokens (needs the tokenplane.io/tokens-per-second annotation).

    \b
    Examples:
      tpctl get nodes
      tpctl get nodes -o wide -l tier=factory
      tpctl get node edge-7 -o yaml
      tpctl get deploy -o json | jq '.items[].status.readyReplicas'
      tpctl get deployments -o name
      tpctl get nodes --watch
      tpctl get nodes -o jsonpath='{.items[*].metadata.name}'
      tpctl get replicas -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName
      tpctl get replicas --field-selector status.phase=Running,spec.nodeName=edge-7
      tpctl get nodes --sort-by .status.energy.carbonGPerKwh -L tier --no-headers
      tpctl get routes chat-eu                 # who serves each demand point, within SLO?
      tpctl get regions                        # what a demand point's region may name
      tpctl get join-tokens                    # never their secrets
    """
    from controlplane.cli import fieldselect, listing
    from controlplane.cli.client import connect
    from controlplane.cli.kinds import split_args

    if args and args[0].lower() in listing.ROUTE_ALIASES:
        view = listing.View(fmt=output, sort_by=sort_by, no_headers=no_headers)
        listing.show_routes(connect(ctx), list(args[1:]), selector, view)
        return
    if args and args[0].lower() in listing.REGION_ALIASES:
        view = listing.View(fmt=output, sort_by=sort_by, no_headers=no_headers)
        listing.show_regions(connect(ctx), list(args[1:]), view)
        return
    from controlplane.cli.commands.identity import JOIN_TOKEN_ALIASES, show_join_tokens

    if args and args[0].lower() in JOIN_TOKEN_ALIASES:
        show_join_tokens(ctx, output.name)
        return
    pairs = split_args(args)
    for kind in {kind for kind, _ in pairs}:
        fieldselect.parse(field_selector, kind.wire)  # a bad field is a usage error, at once
    if sort_by:
        from controlplane.cli.jsonpath import compile_path

        compile_path(sort_by)
    view = listing.View(
        fmt=output,
        field_selector=field_selector,
        sort_by=sort_by,
        no_headers=no_headers,
        show_labels=show_labels,
        label_columns=tuple(k.strip() for keys in label_columns for k in keys.split(",") if k),
    )
    named = [p for p in pairs if p[1]]
    if named and selector:
        raise click.UsageError("give names or a --selector, not both")
    watching = watch or watch_only
    if watching and len({kind for kind, _ in pairs}) > 1:
        raise click.UsageError("--watch follows one resource type at a time")
    client = connect(ctx)
    if watching:
        kind = pairs[0][0]
        listing.watch(
            client,
            kind,
            selector,
            {n for _, n in named},
            view,
            print_list=not watch_only,
            with_events=output_watch_events,
        )
    else:
        listing.show(client, pairs, selector, view)

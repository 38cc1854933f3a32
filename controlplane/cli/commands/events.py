"""`tpctl events`: what the scheduler, reconciler and inventory decided, and why."""

from __future__ import annotations

import click

from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options, output_option

DEFAULT_LIMIT = 500


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.option(
    "--for",
    "for_",
    metavar="TYPE/NAME",
    help="Only events about this object, e.g. --for node/edge-7.",
)
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="After the recent events, print new ones as they happen, until Ctrl-C.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="How many recent events to show; 0 for all the server keeps (an hour).",
)
@output_option(formats=("table", "json", "yaml"))
@global_options()
@click.pass_context
def events(ctx: click.Context, for_: str | None, watch: bool, limit: int, output: str) -> None:
    """List recent events, oldest first, and optionally follow new ones.

    Events explain decisions: a node turning Ready or NotReady, a replica placed
    on a node and why, a replica moved off a node whose energy changed.

    \b
    Examples:
      tpctl events
      tpctl events --for deployment/llama-eu
      tpctl events --watch
      tpctl events -o json | jq '.items[] | select(.type == "Warning")'
    """
    from controlplane.cli.client import connect
    from controlplane.cli.columns import EVENT_COLUMNS
    from controlplane.cli.kinds import split_args
    from controlplane.cli.output import RowStream, as_list, cells, manifest, print_data, print_rows

    kind, name = "", ""
    if for_:
        ((resolved, name),) = split_args((for_,))
        if not name:
            raise click.BadParameter("give TYPE/NAME, e.g. node/edge-7", param_hint="--for")
        kind = resolved.wire
    client = connect(ctx)
    stream = client.events(kind, name, watch=watch, limit=limit)
    if not watch:
        items = list(stream)
        if output != "table":
            print_data(output, as_list("Event", items, None))
        elif items:
            print_rows(EVENT_COLUMNS, items, wide=False)
        else:
            click.echo("No events found.", err=True)
        return
    rows = RowStream([c.header for c in EVENT_COLUMNS])
    try:
        for event in stream:
            if output == "table":
                rows.print(cells(EVENT_COLUMNS, [event]))
            else:
                print_data(output, manifest(event), separator=True)
    except KeyboardInterrupt:
        return

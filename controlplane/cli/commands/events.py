"""`tpctl events`: what the scheduler, reconciler and inventory decided, and why."""

from __future__ import annotations

import click

from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options, output_option

DEFAULT_LIMIT = 500
EVENT_TYPES = ("Normal", "Warning")
API_VERSION = "tokenplane.io/v1"


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
@click.option(
    "--types",
    "types",
    multiple=True,
    metavar="TYPE[,TYPE]",
    help="Only events of these types: Normal, Warning. Repeatable or comma-separated.",
)
@output_option(formats=("table", "json", "yaml"))
@global_options()
@click.pass_context
def events(
    ctx: click.Context,
    for_: str | None,
    watch: bool,
    limit: int,
    types: tuple[str, ...],
    output: str,
) -> None:
    """List recent events, oldest first, and optionally follow new ones.

    Events explain decisions: a node turning Ready or NotReady, a replica placed
    on a node and why, a replica moved off a node whose energy changed. The
    server folds identical events (same object, type, reason and message) into
    one line, with how many there were (COUNT) and since when (FIRST SEEN).

    \b
    Examples:
      tpctl events
      tpctl events --for deployment/llama-eu
      tpctl events --watch
      tpctl events --types Warning
      tpctl events -o json | jq '.items[] | select(.type == "Warning")'
    """
    from controlplane.cli.client import EventSeries, connect
    from controlplane.cli.columns import SERIES_COLUMNS
    from controlplane.cli.kinds import split_args
    from controlplane.cli.output import RowStream, cells, manifest, print_data, print_rows

    wanted = tuple(t.strip() for text in types for t in text.split(",") if t.strip())
    for type_ in wanted:
        if type_ not in EVENT_TYPES:
            raise click.BadParameter(
                f"{type_!r} is not an event type; one of {', '.join(EVENT_TYPES)}",
                param_hint="--types",
            )
    kind, name = "", ""
    if for_:
        ((resolved, name),) = split_args((for_,))
        if not name:
            raise click.BadParameter("give TYPE/NAME, e.g. node/edge-7", param_hint="--for")
        kind = resolved.wire
    client = connect(ctx)
    stream = client.event_series(kind, name, watch=watch, limit=limit, types=wanted)

    def data(series: EventSeries) -> dict[str, object]:
        return {**manifest(series.event), "count": series.count, "firstTime": series.first_time}

    if not watch:
        items = list(stream)
        if output != "table":
            print_data(
                output,
                {
                    "apiVersion": API_VERSION,
                    "kind": "EventList",
                    "metadata": {},
                    "items": [data(s) for s in items],
                },
            )
        elif items:
            print_rows(SERIES_COLUMNS, items, wide=False)
        else:
            click.echo("No events found.", err=True)
        return
    rows = RowStream([c.header for c in SERIES_COLUMNS])
    try:
        for series in stream:
            if output == "table":
                rows.print(cells(SERIES_COLUMNS, [series]))
            else:
                print_data(output, data(series), separator=True)
    except KeyboardInterrupt:
        return

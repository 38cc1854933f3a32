"""`tpctl get` at work: fetch, print in the asked format, and follow a watch.

A watch is List-then-Watch from the list's revision, so that no change between
the two is lost; deletions are printed with the object's last known state, as
kubectl does, since the server sends only the name of what is gone.
"""

from __future__ import annotations

import click

from controlplane.cli.client import FleetClient
from controlplane.cli.columns import COLUMNS
from controlplane.cli.errors import CliError
from controlplane.cli.kinds import Kind
from controlplane.cli.output import (
    RowStream,
    as_list,
    cells,
    columns_for,
    manifest,
    name_of,
    print_data,
    print_rows,
)
from controlplane.resources.codec import Resource


def _fetch(
    client: FleetClient, pairs: list[tuple[Kind, str]], selector: str
) -> tuple[list[tuple[Kind, list[Resource]]], int, list[CliError]]:
    """Objects grouped by kind in the order asked, the newest revision, and what was missing."""
    groups: dict[Kind, list[Resource]] = {}
    revision, missing = 0, []
    for kind, name in pairs:
        items = groups.setdefault(kind, [])
        if name:
            try:
                items.append(client.get(kind.wire, name))
            except CliError as e:
                if e.reason != "NotFound":
                    raise
                missing.append(e)
        else:
            listed, revision = client.list(kind.wire, selector)
            items.extend(listed)
    return list(groups.items()), revision, missing


def show(client: FleetClient, pairs: list[tuple[Kind, str]], selector: str, fmt: str) -> None:
    groups, revision, missing = _fetch(client, pairs, selector)
    everything = [item for _, items in groups for item in items]
    if fmt in ("json", "yaml"):
        if len(pairs) == 1 and pairs[0][1] and everything:
            print_data(fmt, manifest(everything[0]))
        elif len(groups) == 1:
            print_data(fmt, as_list(groups[0][0].wire, everything, revision))
        else:
            print_data(fmt, as_list("", everything, revision))
    elif fmt == "name":
        for item in everything:
            click.echo(name_of(item))
    else:
        shown = [(kind, items) for kind, items in groups if items]
        for index, (kind, items) in enumerate(shown):
            if index:
                click.echo()
            print_rows(COLUMNS[kind.wire], items, wide=fmt == "wide")
        if not everything and not missing:
            click.echo("No resources found.", err=True)
    for error in missing[:-1]:
        error.show()
    if missing:
        raise missing[-1]


class _ChangePrinter:
    """Prints watch events (and the initial list, as ADDED) the way `get --watch` shows them."""

    def __init__(self, kind: Kind, fmt: str, *, with_events: bool) -> None:
        self.fmt = fmt
        self.with_events = with_events
        self.columns = columns_for(COLUMNS[kind.wire], wide=fmt == "wide")
        headers = [c.header for c in self.columns]
        self.rows = RowStream(["EVENT", *headers] if with_events else headers)

    def print(self, change: str, resources: list[Resource]) -> None:
        if self.fmt in ("table", "wide"):
            rows = cells(self.columns, resources)
            self.rows.print([[change, *row] for row in rows] if self.with_events else rows)
            return
        for resource in resources:
            if self.fmt == "name":
                click.echo(
                    f"{change} {name_of(resource)}" if self.with_events else name_of(resource)
                )
                continue
            data = manifest(resource)
            print_data(
                self.fmt,
                {"type": change, "object": data} if self.with_events else data,
                separator=True,
            )


def watch(
    client: FleetClient,
    kind: Kind,
    selector: str,
    names: set[str],
    fmt: str,
    *,
    print_list: bool,
    with_events: bool,
) -> None:
    """Prints the current objects (unless `print_list` is off), then every change until Ctrl-C."""
    items, revision = client.list(kind.wire, selector)
    seen = {item.name: item for item in items if not names or item.name in names}
    printer = _ChangePrinter(kind, fmt, with_events=with_events)
    if print_list and seen:
        printer.print("ADDED", list(seen.values()))
    try:
        for event in client.watch(kind.wire, selector, revision):
            if names and event.name not in names:
                continue
            if event.resource is None:
                resource = seen.pop(event.name, None)
                if resource is None:  # outside the selector: never shown, nothing to retract
                    continue
            else:
                resource = seen[event.name] = event.resource
            printer.print(event.type, [resource])
    except KeyboardInterrupt:
        return

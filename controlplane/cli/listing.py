"""`tpctl get` at work: fetch, select by field, sort, print in the asked format, follow a watch.

A watch is List-then-Watch from the list's revision, so that no change between
the two is lost; deletions are printed with the object's last known state, as
kubectl does, since the server sends only the name of what is gone.

Field selectors and `--sort-by` read the manifest (camelCase, as `-o yaml`
shows it), so a path a user reads in `-o yaml` is the path they sort by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from controlplane.cli import fieldselect
from controlplane.cli.client import FleetClient
from controlplane.cli.errors import CliError
from controlplane.cli.formats import NO_VALUE, OutputFormat, custom_columns
from controlplane.cli.kinds import Kind
from controlplane.cli.output import (
    Column,
    RowStream,
    as_list,
    cells,
    columns_for,
    manifest,
    name_of,
    print_data,
    print_table,
)

if TYPE_CHECKING:
    from controlplane.resources.codec import Resource


@dataclass(frozen=True)
class View:
    """How `get` shows what it fetched: the format and kubectl's filtering and table flags."""

    fmt: OutputFormat = field(default_factory=lambda: OutputFormat("table"))
    field_selector: str = ""
    sort_by: str = ""
    no_headers: bool = False
    show_labels: bool = False
    label_columns: tuple[str, ...] = ()


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


def sort_key(path: str, data: dict[str, Any]) -> tuple[int, float, str]:
    """Numbers before strings, numerically; objects without the field last, as kubectl."""
    from controlplane.cli.jsonpath import find

    values = find(path, data)
    if not values or values[0] is None:
        return (2, 0.0, "")
    value = values[0]
    if isinstance(value, bool):
        return (1, 0.0, str(value).lower())
    if isinstance(value, int | float):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def select(kind: Kind, items: list[Resource], view: View) -> list[Resource]:
    """Items that pass the field selector, in `--sort-by` order."""
    requirements = fieldselect.parse(view.field_selector, kind.wire)
    if not requirements and not view.sort_by:
        return items
    data = [manifest(item) for item in items]
    kept = [
        (item, d)
        for item, d in zip(items, data, strict=True)
        if fieldselect.matches(requirements, kind.wire, d)
    ]
    if view.sort_by:
        kept.sort(key=lambda pair: sort_key(view.sort_by, pair[1]))
    return [item for item, _ in kept]


def _label(key: str) -> Column[Resource]:
    return Column(key.rsplit("/", 1)[-1].upper(), lambda r: r.metadata.labels.get(key))


def _labels(resource: Resource) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(resource.metadata.labels.items()))


def table_columns(kind: Kind, view: View) -> list[Column[Any]]:
    """The kind's columns (wide or not), then -L label columns, then LABELS."""
    from controlplane.cli.columns import COLUMNS

    columns: list[Column[Any]] = columns_for(COLUMNS[kind.wire], wide=view.fmt.name == "wide")
    columns += [_label(key) for key in view.label_columns]
    if view.show_labels:
        columns.append(Column("LABELS", _labels, str))
    return columns


def custom_cells(spec: str, items: Sequence[Resource]) -> list[list[str]]:
    from controlplane.cli.jsonpath import find, text_of

    paths = [path for _, path in custom_columns(spec)]
    rows = []
    for item in items:
        data = manifest(item)
        rows.append(
            [
                ",".join(text_of(v) for v in find(path, data) if v is not None) or NO_VALUE
                for path in paths
            ]
        )
    return rows


def _print_group(kind: Kind, items: list[Resource], view: View) -> None:
    if view.fmt.name == "custom-columns":
        headers = [h for h, _ in custom_columns(view.fmt.template)]
        rows = custom_cells(view.fmt.template, items)
    else:
        columns = table_columns(kind, view)
        headers, rows = [c.header for c in columns], cells(columns, items)
    print_table(headers, rows, show_header=not view.no_headers)


def _server_table(view: View) -> bool:
    """Whether the server's rendered table will do: plain or wide, nothing to select or sort."""
    return view.fmt.name in ("table", "wide") and not (
        view.field_selector or view.sort_by or view.show_labels or view.label_columns
    )


def show(client: FleetClient, pairs: list[tuple[Kind, str]], selector: str, view: View) -> None:
    if len(pairs) == 1 and not pairs[0][1] and _server_table(view):
        columns, rows = client.table(pairs[0][0].wire, selector)
        shown = [i for i, (_, wide) in enumerate(columns) if view.fmt.name == "wide" or not wide]
        if not rows:
            click.echo("No resources found.", err=True)
            return
        print_table(
            [columns[i][0] for i in shown],
            ([row[i] for i in shown] for row in rows),
            show_header=not view.no_headers,
        )
        return
    groups, revision, missing = _fetch(client, pairs, selector)
    groups = [(kind, select(kind, items, view)) for kind, items in groups]
    everything = [item for _, items in groups for item in items]
    fmt = view.fmt.name
    single = len(pairs) == 1 and bool(pairs[0][1])
    if fmt in ("json", "yaml", "jsonpath"):
        if single and everything:
            data = manifest(everything[0])
        else:
            data = as_list(groups[0][0].wire if len(groups) == 1 else "", everything, revision)
        if fmt == "jsonpath":
            from controlplane.cli.jsonpath import render

            click.echo(render(view.fmt.template, data), nl=False)
        else:
            print_data(fmt, data)
    elif fmt == "name":
        for item in everything:
            click.echo(name_of(item))
    else:
        nonempty = [(kind, items) for kind, items in groups if items]
        for index, (kind, items) in enumerate(nonempty):
            if index:
                click.echo()
            _print_group(kind, items, view)
        if not everything and not missing:
            click.echo("No resources found.", err=True)
    for error in missing[:-1]:
        error.show()
    if missing:
        raise missing[-1]


class _ChangePrinter:
    """Prints watch events (and the initial list, as ADDED) the way `get --watch` shows them."""

    def __init__(self, kind: Kind, view: View, *, with_events: bool) -> None:
        self.view = view
        self.fmt = view.fmt.name
        self.with_events = with_events
        self.columns = table_columns(kind, view)
        if self.fmt == "custom-columns":
            headers = [h for h, _ in custom_columns(view.fmt.template)]
        else:
            headers = [c.header for c in self.columns]
        self.rows = RowStream(["EVENT", *headers] if with_events else headers)
        if view.no_headers:
            self.rows.started = True

    def print(self, change: str, resources: list[Resource]) -> None:
        if self.fmt in ("table", "wide", "custom-columns"):
            if self.fmt == "custom-columns":
                rows = custom_cells(self.view.fmt.template, resources)
            else:
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
            if self.fmt == "jsonpath":
                from controlplane.cli.jsonpath import render

                click.echo(render(self.view.fmt.template, data))
                continue
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
    view: View,
    *,
    print_list: bool,
    with_events: bool,
) -> None:
    """Prints the current objects (unless `print_list` is off), then every change until Ctrl-C.

    An object that stops matching the field selector is printed once as DELETED, as a
    server-side field selector would report it."""
    requirements = fieldselect.parse(view.field_selector, kind.wire)

    def wanted(resource: Resource) -> bool:
        return (not names or resource.name in names) and fieldselect.matches(
            requirements, kind.wire, manifest(resource)
        )

    def listed() -> tuple[dict[str, Resource], int]:
        items, revision = client.list(kind.wire, selector)
        return {item.name: item for item in select(kind, items, view) if wanted(item)}, revision

    seen, revision = listed()
    printer = _ChangePrinter(kind, view, with_events=with_events)
    if print_list and seen:
        printer.print("ADDED", list(seen.values()))
    try:
        while True:
            try:
                for event in client.watch(kind.wire, selector, revision):
                    if names and event.name not in names:
                        continue
                    change = event.type
                    if event.resource is None or not wanted(event.resource):
                        resource = seen.pop(event.name, None)
                        if resource is None:  # never shown: nothing to retract
                            continue
                        change = "DELETED"
                    else:
                        if requirements and event.name not in seen:
                            change = "ADDED"  # it came to match the field selector
                        resource = seen[event.name] = event.resource
                    printer.print(change, [resource])
                return
            except CliError as e:
                if e.reason != "Expired":
                    raise
            # The history since `revision` was compacted (Kubernetes' 410 Gone): list
            # again, as kubectl does, and print what changed meanwhile.
            fresh, revision = listed()
            for change, resource in changes_between(seen, fresh):
                printer.print(change, [resource])
            seen = fresh
    except KeyboardInterrupt:
        return


def changes_between(
    before: dict[str, Resource], after: dict[str, Resource]
) -> list[tuple[str, Resource]]:
    """What a watcher missed between two lists: ADDED, MODIFIED (a new resourceVersion)
    and DELETED objects, by name."""
    changes: list[tuple[str, Resource]] = []
    for name, resource in after.items():
        old = before.get(name)
        if old is None:
            changes.append(("ADDED", resource))
        elif old.metadata.resource_version != resource.metadata.resource_version:
            changes.append(("MODIFIED", resource))
    changes += [("DELETED", old) for name, old in before.items() if name not in after]
    return changes


REGION_ALIASES = ("regions", "region", "reg")


def show_regions(client: FleetClient, names: list[str], view: View) -> None:
    """`tpctl get regions`: what a demand point's `region` may name, and where it is."""
    from controlplane.resources import API_VERSION

    regions = client.regions()
    if names:
        known = {r["name"] for r in regions}
        missing = [n for n in names if n not in known]
        if missing:
            raise CliError(f'regions "{", ".join(missing)}" not found', reason="NotFound")
        regions = [r for r in regions if r["name"] in names]
    if view.sort_by:
        regions.sort(key=lambda r: sort_key(view.sort_by, r))
    fmt = view.fmt.name
    if fmt in ("json", "yaml", "jsonpath"):
        data = {"apiVersion": API_VERSION, "kind": "RegionList", "metadata": {}, "items": regions}
        if fmt == "jsonpath":
            from controlplane.cli.jsonpath import render

            click.echo(render(view.fmt.template, data), nl=False)
        else:
            print_data(fmt, data)
    elif fmt == "name":
        for r in regions:
            click.echo(f"region/{r['name']}")
    elif fmt == "custom-columns":
        from controlplane.cli.jsonpath import find, text_of

        columns = custom_columns(view.fmt.template)
        rows = [
            [",".join(text_of(v) for v in find(path, r)) or NO_VALUE for _, path in columns]
            for r in regions
        ]
        print_table([h for h, _ in columns], rows, show_header=not view.no_headers)
    else:
        print_table(
            ["NAME", "SOURCE", "NODES", "LAT", "LON"],
            [
                [
                    r["name"],
                    r["source"],
                    str(r["nodes"]) if r["source"] == "fleet" else "-",
                    f"{r['lat']:.2f}",
                    f"{r['lon']:.2f}",
                ]
                for r in regions
            ],
            show_header=not view.no_headers,
        )


ROUTE_ALIASES = ("routes", "route", "rt")


def show_routes(client: FleetClient, names: list[str], selector: str, view: View) -> None:
    """`tpctl get routes [DEPLOYMENT...]`: which replica serves each demand point of each
    deployment, its share, the RTT (measured or estimated) and whether within the SLO."""
    from controlplane.cli.columns import ROUTE_COLUMNS, route_rows
    from controlplane.resources import API_VERSION, ModelDeployment

    if names:
        deployments = [client.get("ModelDeployment", name) for name in names]
    else:
        deployments = client.list("ModelDeployment", selector)[0]
    rows = route_rows([d for d in deployments if isinstance(d, ModelDeployment)])
    data = [
        {"deployment": r.deployment, **r.route.model_dump(mode="json", by_alias=True)} for r in rows
    ]
    if view.sort_by:
        order = sorted(range(len(data)), key=lambda i: sort_key(view.sort_by, data[i]))
        rows, data = [rows[i] for i in order], [data[i] for i in order]
    fmt = view.fmt.name
    if fmt in ("json", "yaml", "jsonpath"):
        listed = {"apiVersion": API_VERSION, "kind": "RouteList", "metadata": {}, "items": data}
        if fmt == "jsonpath":
            from controlplane.cli.jsonpath import render

            click.echo(render(view.fmt.template, listed), nl=False)
        else:
            print_data(fmt, listed)
    elif fmt == "name":
        for r in rows:
            click.echo(f"route/{r.deployment}/{r.route.demand}/{r.route.replica}")
    elif fmt == "custom-columns":
        from controlplane.cli.jsonpath import find, text_of

        columns = custom_columns(view.fmt.template)
        table = [
            [",".join(text_of(v) for v in find(path, d)) or NO_VALUE for _, path in columns]
            for d in data
        ]
        print_table([h for h, _ in columns], table, show_header=not view.no_headers)
    elif rows:
        print_table(
            [c.header for c in ROUTE_COLUMNS],
            cells(ROUTE_COLUMNS, rows),
            show_header=not view.no_headers,
        )
    else:
        click.echo("No routes found (routes are set once replicas run).", err=True)

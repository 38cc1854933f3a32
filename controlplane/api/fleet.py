"""The Fleet API that tpctl speaks: resources in and out, watches, cordon and drain."""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
from opentelemetry import trace

from controlplane import __version__
from controlplane.api.auth import Authenticator, Role
from controlplane.api.checks import check_name, check_size, revision_of
from controlplane.api.paging import Continue, page, parse_continue
from controlplane.api.status import streaming, unary
from controlplane.errors import Invalid, OutOfRange, clip
from controlplane.inventory import InventoryTable
from controlplane.inventory.view import with_live_status
from controlplane.objects import ApplyResult, Change, ObjectStore, Resource
from controlplane.resources import KINDS, Curtailment, Event, ModelDeployment, Node, Replica
from controlplane.resources.codec import ONEOF_FIELD, from_resource, to_message, to_resource
from controlplane.resources.selector import LabelSelector, parse_selector
from controlplane.store import Compacted
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc
from tokenplane.v1 import resources_pb2 as pb

_APPLY_RESULTS = {
    ApplyResult.CREATED: fleet_pb2.APPLY_RESULT_CREATED,
    ApplyResult.CONFIGURED: fleet_pb2.APPLY_RESULT_CONFIGURED,
    ApplyResult.UNCHANGED: fleet_pb2.APPLY_RESULT_UNCHANGED,
}
_WATCH_TYPES = {
    Change.ADDED: fleet_pb2.WATCH_EVENT_TYPE_ADDED,
    Change.MODIFIED: fleet_pb2.WATCH_EVENT_TYPE_MODIFIED,
    Change.DELETED: fleet_pb2.WATCH_EVENT_TYPE_DELETED,
}
_tracer = trace.get_tracer("tokenplane.api")

# Who may write what: deployments are an operator's daily work; nodes and replicas
# are the system's own records, changed by hand only by an admin. Lowering a site's
# budget for a while is an operator's call, as a cordon is.
_WRITE_ROLE = {
    "ModelDeployment": Role.OPERATOR,
    "Node": Role.ADMIN,
    "Replica": Role.ADMIN,
    "Curtailment": Role.OPERATOR,
}

Drainer = Callable[[str, float], Awaitable[list[str]]]
MAX_DRAIN_TIMEOUT_S = 7 * 24 * 3600.0


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise Invalid(f"kind: unknown kind {clip(kind)!r}; one of {', '.join(KINDS)}")
    return kind


class FleetService(fleet_pb2_grpc.FleetServiceServicer):
    def __init__(
        self,
        *,
        objects: ObjectStore,
        table: InventoryTable,
        auth: Authenticator,
        drain: Drainer,
        on_cordon: Callable[[str, bool], None],
        on_change: Callable[[], None],
        logs: _Logs,
        replicas_on: Callable[[str], list[str]],
        on_node_deleted: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._objects = objects
        self._table = table
        self._auth = auth
        self._drain = drain
        self._on_cordon = on_cordon
        self._on_change = on_change
        self._logs = logs
        self._replicas_on = replicas_on
        self._on_node_deleted = on_node_deleted  # revokes the node's credentials

    def _header(self, revision: int) -> fleet_pb2.ResponseHeader:
        return fleet_pb2.ResponseHeader(revision=revision, server_version=__version__)

    def _live(self, resource: Resource) -> Resource:
        if isinstance(resource, Node):
            return self._live_node(resource)
        return resource

    def _live_node(self, node: Node) -> Node:
        return with_live_status(
            node,
            self._table,
            wall_now=datetime.now(UTC),
            mono_now_s=time.monotonic(),
            replicas=self._replicas_on(node.name),
        )

    @unary
    async def Apply(
        self, request: fleet_pb2.ApplyRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ApplyResponse:
        # Authenticated before the manifest is validated: a stranger learns nothing from it.
        field = request.resource.WhichOneof("resource")
        kind = next((k for k, f in ONEOF_FIELD.items() if f == field), "")
        caller = self._auth.authorize(
            context.invocation_metadata(), _WRITE_ROLE.get(kind, Role.ADMIN)
        )
        if field is not None:
            body = getattr(request.resource, field)
            check_size(body, kind, body.metadata.name)
        resource = from_resource(request.resource)
        if isinstance(resource, Curtailment):
            resource.spec.requested_by = caller  # who asked is the server's to say
        if isinstance(resource, Node):
            self._table.check_node(resource)
        if isinstance(resource, ModelDeployment):
            check_demand_regions(resource, self._regions())
        with _tracer.start_as_current_span(
            "fleet.apply",
            attributes={
                "tokenplane.kind": resource.kind,
                "tokenplane.name": resource.name,
                "tokenplane.dry_run": request.dry_run,
            },
        ) as span:
            stored, result = await self._objects.apply(resource, dry_run=request.dry_run)
            span.set_attribute("tokenplane.result", result.value)
        if not request.dry_run:
            if isinstance(stored, Node):
                self._table.upsert(stored)
            self._on_change()
        return fleet_pb2.ApplyResponse(
            header=self._header(int(stored.metadata.resource_version or 0)),
            resource=to_resource(stored),
            result=_APPLY_RESULTS[result],
        )

    @unary
    async def Get(
        self, request: fleet_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.GetResponse:
        self._auth.authorize(context.invocation_metadata(), Role.VIEWER)
        kind = _kind(request.kind)
        check_name(request.name)
        resource = await self._objects.must_get(kind, request.name)
        return fleet_pb2.GetResponse(
            header=self._header(int(resource.metadata.resource_version)),
            resource=to_resource(self._live(resource)),
        )

    @unary
    async def List(
        self, request: fleet_pb2.ListRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ListResponse:
        self._auth.authorize(context.invocation_metadata(), Role.VIEWER)
        kind = _kind(request.kind)
        selector = _selector(request.label_selector)
        start = parse_continue(getattr(request, "continue"), kind)
        items, revision = await self._objects.list(
            kind, selector, after=start.after if start else ""
        )
        revision = start.revision if start else revision  # see controlplane/api/paging.py
        response = fleet_pb2.ListResponse(header=self._header(revision))
        if request.as_table:
            columns = _columns(kind)
            response.table.columns.extend(
                fleet_pb2.TableColumn(name=c.header, wide=c.wide) for c in columns
            )
            rows = page(items, lambda r: _row(columns, self._live(r)), limit=request.limit)
            response.table.rows.extend(rows)
            sent = len(rows)
        else:
            resources = page(items, lambda r: to_resource(self._live(r)), limit=request.limit)
            response.items.extend(resources)
            sent = len(resources)
        if sent < len(items):
            setattr(response, "continue", Continue(kind, items[sent - 1].name, revision).token())
            response.remaining_item_count = len(items) - sent
        return response

    @unary
    async def Delete(
        self, request: fleet_pb2.DeleteRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.DeleteResponse:
        self._auth.authorize(
            context.invocation_metadata(), _WRITE_ROLE.get(request.kind, Role.ADMIN)
        )
        kind = _kind(request.kind)
        check_name(request.name)
        version = request.resource_version
        if version:
            revision_of(version, minimum=1)
        deleted = await self._objects.delete(kind, request.name, version)
        if kind == "Node" and self._on_node_deleted is not None:
            await self._on_node_deleted(request.name)
        self._on_change()
        return fleet_pb2.DeleteResponse(
            header=self._header(int(deleted.metadata.resource_version)),
            resource=to_resource(deleted),
        )

    @streaming
    async def Watch(
        self, request: fleet_pb2.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[fleet_pb2.WatchResponse]:
        self._auth.authorize(context.invocation_metadata(), Role.VIEWER)
        kind = _kind(request.kind)
        selector = _selector(request.label_selector)
        version = request.resource_version
        start = await self._watch_start(version) if version else None
        events = self._objects.watch(kind, start_revision=start, selector=selector)
        try:
            async for event in events:
                if event.resource is None:
                    gone = pb.Resource(**{ONEOF_FIELD[kind]: {"metadata": {"name": event.name}}})
                else:
                    gone = to_resource(self._live(event.resource))
                yield fleet_pb2.WatchResponse(
                    header=self._header(event.revision),
                    type=_WATCH_TYPES[event.change],
                    resource=gone,
                )
        except Compacted as e:
            # Kubernetes' 410 Gone: the client lists again and watches from the list.
            raise OutOfRange(
                f"resourceVersion {version} is compacted; list again and watch from the "
                f"list's revision (the store keeps changes from {e.compact_revision})"
            ) from None

    async def _watch_start(self, version: str) -> int:
        """The first revision a Watch from resourceVersion `version` streams."""
        revision = revision_of(version)
        now = await self._objects.store.revision()
        if revision > now:
            raise OutOfRange(
                f"resourceVersion: {revision} is ahead of the store (now at {now}); "
                "watch from a revision a List or Get returned"
            )
        return revision + 1

    async def _set_unschedulable(
        self, request: fleet_pb2.CordonRequest, context: grpc.aio.ServicerContext, value: bool
    ) -> fleet_pb2.CordonResponse:
        self._auth.authorize(context.invocation_metadata(), Role.OPERATOR)

        def cordon(node: Node) -> Node | None:
            if node.spec.unschedulable == value:
                return None
            node.spec.unschedulable = value
            return node

        node = await self._objects.update("Node", request.name, cordon)
        self._on_cordon(request.name, value)
        self._on_change()
        return fleet_pb2.CordonResponse(
            header=self._header(int(node.metadata.resource_version)),
            node=to_message(self._live_node(node)),
        )

    @unary
    async def Cordon(
        self, request: fleet_pb2.CordonRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.CordonResponse:
        return await self._set_unschedulable(request, context, True)

    @unary
    async def Uncordon(
        self, request: fleet_pb2.CordonRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.CordonResponse:
        return await self._set_unschedulable(request, context, False)

    @unary
    async def Drain(
        self, request: fleet_pb2.DrainRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.DrainResponse:
        self._auth.authorize(context.invocation_metadata(), Role.OPERATOR)
        if not 0 <= request.timeout_s <= MAX_DRAIN_TIMEOUT_S:  # NaN too
            raise Invalid(
                f"timeoutS: {request.timeout_s} is not a number of seconds from 0 (the "
                f"default) to {MAX_DRAIN_TIMEOUT_S:.0f}"
            )
        cordoned = await self._set_unschedulable(
            fleet_pb2.CordonRequest(name=request.name), context, True
        )
        moved = await self._drain(request.name, request.timeout_s or 300.0)
        return fleet_pb2.DrainResponse(header=cordoned.header, node=cordoned.node, moved=moved)

    @unary
    async def ReplicaLogs(
        self, request: fleet_pb2.ReplicaLogsRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ReplicaLogsResponse:
        self._auth.authorize(context.invocation_metadata(), Role.VIEWER)
        replica = await self._objects.must_get("Replica", request.name)
        assert isinstance(replica, Replica)
        node = replica.spec.node_name
        text = await self._logs.logs(node, replica.name, request.tail_lines)
        return fleet_pb2.ReplicaLogsResponse(node=node, text=text)

    def _regions(self) -> list[fleet_pb2.RegionInfo]:
        """The fleet's regions (centroid of their nodes), then the server's region table."""
        table = self._table
        n = len(table)
        members: dict[str, list[tuple[float, float]]] = {}
        for region, lat, lon in zip(table.region[:n], table.lat[:n], table.lon[:n], strict=True):
            if region:
                members.setdefault(str(region), []).append((float(lat), float(lon)))
        found = [
            fleet_pb2.RegionInfo(name=name, lat=lat, lon=lon, source="fleet", nodes=len(points))
            for name, points in sorted(members.items())
            for lat, lon in [centroid(points)]
        ]
        found += [
            fleet_pb2.RegionInfo(name=name, lat=lat, lon=lon, source="table")
            for name, (lat, lon) in sorted(table.rtt.landmarks.items())
            if name not in members
        ]
        return found

    @unary
    async def ListRegions(
        self, request: fleet_pb2.ListRegionsRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ListRegionsResponse:
        self._auth.authorize(context.invocation_metadata(), Role.VIEWER)
        return fleet_pb2.ListRegionsResponse(header=self._header(0), regions=self._regions())

    @streaming
    async def Events(
        self, request: fleet_pb2.EventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[fleet_pb2.EventsResponse]:
        self._auth.authorize(context.invocation_metadata(), Role.VIEWER)
        types = set(request.types)
        events, revision = await self._objects.list_events(request.kind, request.name)
        groups = aggregate_events([e for e in events if not types or e.type in types])
        shown = groups[-request.limit :] if request.limit else groups
        for group in shown:
            yield group.response()
        if not request.watch:
            return
        seen = {g.key: g for g in groups}
        async for event in self._objects.watch_events(revision + 1):
            involved = event.involved_object
            if (
                (request.kind and involved.kind != request.kind)
                or (request.name and involved.name != request.name)
                or (types and event.type not in types)
            ):
                continue
            key = _event_key(event)
            previous = seen.get(key)
            group = (
                EventGroup(key, event, 1, event.time)
                if previous is None
                else EventGroup(key, event, previous.count + 1, previous.first_time)
            )
            seen[key] = group
            yield group.response()


def _event_key(event: Event) -> tuple[str, str, str, str, str]:
    involved = event.involved_object
    return (involved.kind, involved.name, event.type, event.reason, event.message)


@dataclass(frozen=True, slots=True)
class EventGroup:
    """Identical events (same object, type, reason, message): the latest, and how many."""

    key: tuple[str, str, str, str, str]
    last: Event
    count: int
    first_time: str

    def response(self) -> fleet_pb2.EventsResponse:
        return fleet_pb2.EventsResponse(
            event=to_message(self.last), count=self.count, first_time=self.first_time
        )


def aggregate_events(events: list[Event]) -> list[EventGroup]:
    """Identical events folded into one, ordered by when each was last seen (oldest first), as
    Kubernetes' event series: a FailedScheduling repeated every pass is one line with a COUNT."""
    groups: dict[tuple[str, str, str, str, str], EventGroup] = {}
    for event in events:
        key = _event_key(event)
        before = groups.pop(key, None)  # re-inserted: dict order becomes last-seen order
        groups[key] = (
            EventGroup(key, event, 1, event.time or event.metadata.creation_timestamp)
            if before is None
            else EventGroup(key, event, before.count + 1, before.first_time)
        )
    return list(groups.values())


def _columns(kind: str) -> Sequence[Any]:
    """`tpctl get`'s columns, rendered here (kube-apiserver's server-side printing): the
    client prints the cells without decoding, or even importing, a single resource."""
    from controlplane.cli.columns import COLUMNS

    return COLUMNS[kind]


def _row(columns: Sequence[Any], item: Resource) -> fleet_pb2.TableRow:
    return fleet_pb2.TableRow(name=item.name, cells=[c.cell(item) for c in columns])


def centroid(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The mean position of points on the sphere (lat, lon in degrees)."""
    x = y = z = 0.0
    for lat, lon in points:
        phi, lam = math.radians(lat), math.radians(lon)
        x += math.cos(phi) * math.cos(lam)
        y += math.cos(phi) * math.sin(lam)
        z += math.sin(phi)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


MAX_REGIONS_LISTED = 12


def check_demand_regions(deployment: ModelDeployment, known: list[fleet_pb2.RegionInfo]) -> None:
    """A demand point that names a region (and no lat/lon) must name one the server can place:
    refused at apply time, with the regions it knows, rather than FailedScheduling later."""
    names = [r.name for r in known]
    known_names = set(names)
    for index, point in enumerate(deployment.spec.demand):
        if not point.region or (point.lat is not None and point.lon is not None):
            continue
        if point.region in known_names:
            continue
        fleet = [r.name for r in known if r.source == "fleet"]
        close = difflib.get_close_matches(point.region, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "."
        shown = ", ".join(fleet[:MAX_REGIONS_LISTED]) or "none"
        more = len(known) - min(len(fleet), MAX_REGIONS_LISTED)
        raise Invalid(
            f"spec.demand[{index}].region: unknown region {point.region!r}{hint} "
            f"The fleet's regions: {shown}"
            + (f", and {more} more in the server's region table" if more > 0 else "")
            + " (tpctl get regions); or give the point's lat and lon."
        )


class _Logs(Protocol):
    async def logs(self, node: str, replica: str, tail_lines: int) -> str: ...


def _selector(text: str) -> LabelSelector | None:
    if not text:
        return None
    try:
        return parse_selector(text)
    except ValueError as e:
        raise Invalid(str(e)) from None


__all__ = ["FleetService"]

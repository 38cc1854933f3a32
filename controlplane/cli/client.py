"""tpctl's side of the Fleet API: one channel, typed calls, and errors a person can act on.

Commands never see gRPC: they call `FleetClient` methods that take and return
resource models, and every failure leaves as a `CliError` that says what went
wrong, where, and what to check. This module is the only one that maps status
codes to messages.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import grpc
from google.protobuf.message import Message

from controlplane import __version__
from controlplane.cli.config import Target, resolve
from controlplane.cli.errors import CliError
from controlplane.cli.settings import globals_of
from controlplane.tracing import traced_channel
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc, identity_pb2_grpc

if TYPE_CHECKING:  # pydantic models: imported by the calls that decode them, not by tables
    from controlplane.resources import Event
    from controlplane.resources.codec import Resource
    from tokenplane.v1 import resources_pb2

APPLY_RESULTS = {
    fleet_pb2.APPLY_RESULT_CREATED: "created",
    fleet_pb2.APPLY_RESULT_CONFIGURED: "configured",
    fleet_pb2.APPLY_RESULT_UNCHANGED: "unchanged",
}
WATCH_TYPES = {
    fleet_pb2.WATCH_EVENT_TYPE_ADDED: "ADDED",
    fleet_pb2.WATCH_EVENT_TYPE_MODIFIED: "MODIFIED",
    fleet_pb2.WATCH_EVENT_TYPE_DELETED: "DELETED",
}
# Kubernetes' reason names, which kubectl users know from "Error from server (NotFound)".
_REASONS = {
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.ABORTED: "Conflict",
    grpc.StatusCode.INVALID_ARGUMENT: "Invalid",
    grpc.StatusCode.PERMISSION_DENIED: "Forbidden",
    grpc.StatusCode.FAILED_PRECONDITION: "BadRequest",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.OUT_OF_RANGE: "Expired",  # Kubernetes' 410 Gone: a compacted revision
}
# Items per List page (kubectl's --chunk-size); the server may send fewer, by bytes.
PAGE_SIZE = 500
# Substrings of gRPC's own messages when no connection could be made.
_CONNECT_FAILURES = (
    "failed to connect",
    "connection refused",
    "dns resolution failed",
    "errors resolving",
    "lookup",
    "socket closed",
    "connection reset",
    "handshake",
    "ssl",
    "certificate",
    "no route to host",
    "network is unreachable",
)


# What gRPC says when this client's own deadline passed (the server sends its own words).
CLIENT_DEADLINE = "Deadline Exceeded"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    name: str
    resource: Resource | None  # None when DELETED: the server keeps no tombstone


@dataclass(frozen=True, slots=True)
class EventSeries:
    """Identical events as one: the latest, their count, when the first was recorded."""

    event: Event
    count: int
    first_time: str


def _read(path: Path, what: str) -> bytes:
    try:
        return path.expanduser().read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {what} {path}: {e.strerror}") from None


def open_channel(target: Target) -> grpc.Channel:
    if not target.tls:
        return grpc.insecure_channel(target.server)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(target.ca_file, "caFile") if target.ca_file else None,
        private_key=_read(target.key_file, "keyFile") if target.key_file else None,
        certificate_chain=_read(target.cert_file, "certFile") if target.cert_file else None,
    )
    options = (
        [("grpc.ssl_target_name_override", target.tls_server_name)]
        if target.tls_server_name
        else []
    )
    return grpc.secure_channel(target.server, credentials, options=options)


class FleetClient:
    def __init__(self, target: Target, *, timeout_s: float, page_size: int = PAGE_SIZE) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.page_size = page_size
        # With OTEL_* set, each call is a client span the server's trace continues.
        channel = traced_channel(open_channel(target))
        self._stub = fleet_pb2_grpc.FleetServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {target.token}"),) if target.token else ()
        self.identity = IdentityClient(self, identity_pb2_grpc.IdentityServiceStub(channel))

    def _call(self, method: str, request: Message, timeout_s: float | None = None) -> Any:
        try:
            return getattr(self._stub, method)(
                request, timeout=timeout_s or self.timeout_s, metadata=self._metadata
            )
        except grpc.RpcError as e:
            raise self.explain(e, method) from None

    def _stream(
        self, method: str, request: Message, timeout_s: float | None = None
    ) -> Iterator[Any]:
        call = getattr(self._stub, method)(request, timeout=timeout_s, metadata=self._metadata)
        try:
            yield from call
        except grpc.RpcError as e:
            if e.code() is not grpc.StatusCode.CANCELLED:
                raise self.explain(e, method) from None
        finally:
            call.cancel()

    def get(self, kind: str, name: str) -> Resource:
        response = self._call("Get", fleet_pb2.GetRequest(kind=kind, name=name))
        return _decode(response.resource)

    def find(self, kind: str, name: str) -> Resource | None:
        """Like `get`, but None when the object does not exist."""
        try:
            return self.get(kind, name)
        except CliError as e:
            if e.reason == "NotFound":
                return None
            raise

    def _pages(self, kind: str, selector: str, *, as_table: bool) -> Iterator[Any]:
        """Every page of a List, following the server's continue tokens."""
        token = ""
        while True:
            request = fleet_pb2.ListRequest(
                kind=kind, label_selector=selector, as_table=as_table, limit=self.page_size
            )
            setattr(request, "continue", token)  # a Python keyword: no constructor argument
            response = self._call("List", request)
            yield response
            token = getattr(response, "continue")
            if not token:
                return

    def list(self, kind: str, selector: str = "") -> tuple[builtins.list[Resource], int]:
        """Every object of `kind`, read page by page, and the revision to watch from."""
        items: builtins.list[Resource] = []
        revision = 0
        for response in self._pages(kind, selector, as_table=False):
            revision = revision or response.header.revision
            items += [_decode(r) for r in response.items]
        return items, revision

    def apply(self, resource: Resource, *, dry_run: bool = False) -> tuple[Resource, str]:
        from controlplane.resources.codec import to_resource

        response = self._call(
            "Apply", fleet_pb2.ApplyRequest(resource=to_resource(resource), dry_run=dry_run)
        )
        return _decode(response.resource), APPLY_RESULTS[response.result]

    def delete(self, kind: str, name: str, resource_version: str = "") -> Resource:
        response = self._call(
            "Delete",
            fleet_pb2.DeleteRequest(kind=kind, name=name, resource_version=resource_version),
        )
        return _decode(response.resource)

    def watch(self, kind: str, selector: str, revision: int) -> Iterator[WatchEvent]:
        """Changes after `revision`, as read by `list`: the List-then-Watch pattern."""
        request = fleet_pb2.WatchRequest(
            kind=kind, label_selector=selector, resource_version=str(revision)
        )
        for response in self._stream("Watch", request):
            kind_field = response.resource.WhichOneof("resource")
            name = getattr(response.resource, kind_field).metadata.name if kind_field else ""
            type_ = WATCH_TYPES.get(response.type, "MODIFIED")
            resource = None if type_ == "DELETED" else _decode(response.resource)
            yield WatchEvent(type_, name, resource)

    def cordon(self, name: str, *, cordoned: bool) -> None:
        self._call("Cordon" if cordoned else "Uncordon", fleet_pb2.CordonRequest(name=name))

    def drain(self, name: str, timeout_s: float) -> builtins.list[str]:
        """Waits on the server for up to `timeout_s`; the call's own deadline allows a margin."""
        response = self._call(
            "Drain",
            fleet_pb2.DrainRequest(name=name, timeout_s=timeout_s),
            timeout_s=timeout_s + self.timeout_s,
        )
        return list(response.moved)

    def events(
        self, kind: str = "", name: str = "", *, watch: bool = False, limit: int = 0
    ) -> Iterator[Event]:
        """Recent events (the latest of each series); with `watch`, then every new one."""
        for series in self.event_series(kind, name, watch=watch, limit=limit):
            yield series.event

    def event_series(
        self,
        kind: str = "",
        name: str = "",
        *,
        watch: bool = False,
        limit: int = 0,
        types: tuple[str, ...] = (),
    ) -> Iterator[EventSeries]:
        """Identical events aggregated by the server: the latest, how many, since when."""
        from controlplane.resources import Event
        from controlplane.resources.codec import from_message

        request = fleet_pb2.EventsRequest(
            kind=kind, name=name, watch=watch, limit=limit, types=list(types)
        )
        for response in self._stream("Events", request, None if watch else self.timeout_s):
            event = from_message(response.event, Event)
            first = response.first_time or event.time or event.metadata.creation_timestamp
            yield EventSeries(event, max(1, response.count), first)

    def logs(self, replica: str, tail_lines: int) -> tuple[str, str]:
        """The tail of a replica's log, which the server fetches from the replica's agent;
        returns (node, text)."""
        response = self._call(
            "ReplicaLogs", fleet_pb2.ReplicaLogsRequest(name=replica, tail_lines=tail_lines)
        )
        return response.node, response.text

    def table(
        self, kind: str, selector: str = ""
    ) -> tuple[builtins.list[tuple[str, bool]], builtins.list[builtins.list[str]]]:
        """`tpctl get`'s table as the server renders it: ([(header, wide)], rows of cells)."""
        columns: builtins.list[tuple[str, bool]] = []
        rows: builtins.list[builtins.list[str]] = []
        for response in self._pages(kind, selector, as_table=True):
            columns = columns or [(c.name, c.wide) for c in response.table.columns]
            rows += [list(row.cells) for row in response.table.rows]
        return columns, rows

    def regions(self) -> builtins.list[dict[str, Any]]:
        """The regions demand may name: the fleet's own, then the server's region table."""
        response = self._call("ListRegions", fleet_pb2.ListRegionsRequest())
        return [
            {"name": r.name, "lat": r.lat, "lon": r.lon, "source": r.source, "nodes": r.nodes}
            for r in response.regions
        ]

    def version(self) -> str:
        """The server's version, from the header of the cheapest read the API offers."""
        response = self._call("List", fleet_pb2.ListRequest(kind="ModelDeployment", limit=1))
        return response.header.server_version

    def explain(self, error: grpc.RpcError, method: str) -> CliError:
        code, details = error.code(), error.details() or ""
        where = f"{self.target.server} (from {self.target.origin})"
        if code is grpc.StatusCode.UNAVAILABLE and any(
            s in details.lower() for s in _CONNECT_FAILURES
        ):
            transport = "TLS" if self.target.tls else "plaintext"
            return CliError(
                f"cannot reach the tokenplane server at {where}: {details}\n"
                f"Check that tokenplane-server is running and listening on {self.target.server}, "
                f"that this address is right (--server, TOKENPLANE_SERVER, or "
                f"tpctl config set-context), and that the server speaks {transport} "
                "(caFile, certFile and keyFile for mutual TLS, tlsServerName and insecure in "
                "the context)."
            )
        if code is grpc.StatusCode.UNAVAILABLE:
            return CliError(
                f"{details}\nThe server at {self.target.server} is up but cannot serve; "
                "check its log and its store.",
                reason="ServiceUnavailable",
            )
        if code is grpc.StatusCode.DEADLINE_EXCEEDED and details != CLIENT_DEADLINE:
            return CliError(details, reason="Timeout")  # the server gave up waiting, and says why
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return CliError(
                f"the server at {where} did not answer in time ({details}); "
                "raise --request-timeout, or check the server's load and log"
            )
        if code is grpc.StatusCode.UNAUTHENTICATED:
            return CliError(
                f"{details}\nThe server at {self.target.server} did not accept the credentials: "
                "give a token with --token or TOKENPLANE_TOKEN, or set token/tokenFile in the "
                "context (tpctl config set-context NAME --token-file FILE).",
                reason="Unauthorized",
            )
        if code is grpc.StatusCode.UNIMPLEMENTED:
            return CliError(
                f"the server at {where} does not offer {method}: it is older than this tpctl "
                f"({__version__}); see tpctl version"
            )
        reason = _REASONS.get(code, "InternalError")
        return CliError(details, reason=reason)


class IdentityClient:
    """The Identity API (join tokens, node credentials) over the fleet client's channel."""

    def __init__(self, fleet: FleetClient, stub: identity_pb2_grpc.IdentityServiceStub) -> None:
        self._fleet = fleet
        self._stub = stub

    def call(self, method: str, request: Message) -> Any:
        try:
            return getattr(self._stub, method)(
                request, timeout=self._fleet.timeout_s, metadata=self._fleet._metadata
            )
        except grpc.RpcError as e:
            raise self._fleet.explain(e, method) from None


def _decode(resource: resources_pb2.Resource) -> Resource:
    """A resource from the server; one this tpctl cannot read most likely means version skew."""
    from controlplane.resources import ManifestError
    from controlplane.resources.codec import from_resource

    try:
        return from_resource(resource, "the server's answer")
    except ManifestError as e:
        raise CliError(f"cannot read {e}; is tpctl older than the server?") from None


def connect(ctx: click.Context) -> FleetClient:
    """A client for the server that the flags, environment and config file point at."""
    settings = globals_of(ctx)
    return FleetClient(resolve(settings), timeout_s=settings.request_timeout_s)

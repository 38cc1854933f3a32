"""The etcd backend: the Store protocol on etcd's v3 gRPC API, for high availability.

Why our own client: `etcd3` does not import with protobuf 7, and aetcd's
Client takes one endpoint and has no TLS (see MEASURED.md). We use aetcd's
generated v3 stubs (`aetcd.rpc`) on grpc.aio channels we build ourselves, so
we get TLS, mTLS and several endpoints.

Endpoints: one channel per endpoint (`host:port`, resolved by gRPC's DNS
resolver), created lazily on the running loop. Each call goes to the
preferred endpoint if its channel is connected or connects; if it cannot
(refused, unreachable, TLS handshake failed, in reconnect backoff), the next
endpoint becomes preferred. Nothing has been sent then, so this failover is
safe for every call; if no endpoint connects, the call fails at once, unsent,
as StoreUnavailable with gRPC's reason. If a call fails with UNAVAILABLE or
DEADLINE_EXCEEDED after it was sent, reads, lease grants and keepalives are
retried on the next endpoint; writes are not (etcd may have applied one, and
only the caller knows whether repeating it is safe): they raise
StoreUnavailable. The channels reconnect on their own, with backoff capped at
2 s, so a restarted member is used again within seconds.

Mapping, one call each: put with an expected revision is a Txn comparing the
key's MOD revision (0: its CREATE revision, i.e. the key is absent), and on
failure reads the key so Conflict can say where it is; list is a paged Range
from the prefix to etcd's prefix end, pinned to the first page's revision;
watch is one Watch stream per watch (cancelled when iteration stops), resumed
from the next revision on another connection if the stream breaks; keepalive
is one request on a LeaseKeepAlive stream. etcd rounds lease TTLs up to whole
seconds, and to its minimum TTL (1.5 election timeouts, 2 s by default).

Credentials never reach a log or an error message: errors name endpoints only.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import grpc.aio
from aetcd import rpc

from controlplane.store.base import (
    Compacted,
    Conflict,
    EtcdTLS,
    EventType,
    KeyEvent,
    KeyValue,
    LeaseNotFound,
    StoreError,
    StoreUnavailable,
    TooLarge,
    check_revision,
    encode_key,
    prefix_end,
)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 5.0
LIST_PAGE = 500
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # Find a dead connection under an open watch; etcd refuses pings < 5 s apart.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
)
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_EVENT_TYPES = {rpc.Event.PUT: EventType.PUT, rpc.Event.DELETE: EventType.DELETE}


@dataclass(frozen=True, slots=True)
class _Connection:
    endpoint: str
    channel: grpc.aio.Channel
    kv: rpc.KVStub
    watch: rpc.WatchStub
    lease: rpc.LeaseStub


def _read_tls_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read etcd TLS file {path}: {e.strerror}") from None


def _credentials(tls: EtcdTLS) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=_read_tls_file(tls.ca_file),
        private_key=_read_tls_file(tls.key_file) if tls.key_file else None,
        certificate_chain=_read_tls_file(tls.cert_file) if tls.cert_file else None,
    )


def _kv(kv: Any) -> KeyValue:
    return KeyValue(
        kv.key.decode(), kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease
    )


def _compare(key: bytes, expected: int) -> Any:
    if expected == 0:
        return rpc.Compare(
            key=key, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL, create_revision=0
        )
    return rpc.Compare(
        key=key, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=expected
    )


def _actual_revision(response: Any) -> int:
    """The key's mod revision from a failed Txn's Range, 0 if absent."""
    kvs = response.responses[0].response_range.kvs
    return int(kvs[0].mod_revision) if kvs else 0


class EtcdStore:
    """The Store protocol on an etcd cluster (see the module docstring)."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        tls: EtcdTLS | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not endpoints:
            raise ValueError("EtcdStore needs at least one endpoint")
        self.endpoints = tuple(endpoints)
        self._credentials = _credentials(tls) if tls is not None else None
        self._timeout_s = timeout_s
        self._connections: list[_Connection] | None = None
        self._preferred = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __repr__(self) -> str:
        scheme = "etcds" if self._credentials else "etcd"
        return f"EtcdStore({scheme}://{','.join(self.endpoints)})"

    # -- connections and errors ------------------------------------------------------------

    def _bind(self) -> list[_Connection]:
        """The channels, created on first use on this loop."""
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        loop = asyncio.get_running_loop()
        if self._connections is None:
            self._loop = loop
            self._connections = [self._connect(endpoint) for endpoint in self.endpoints]
        elif loop is not self._loop:
            raise StoreError(f"{self!r} is used from a second event loop; use one store per loop")
        return self._connections

    def _connect(self, endpoint: str) -> _Connection:
        if self._credentials is None:
            channel = grpc.aio.insecure_channel(endpoint, options=_CHANNEL_OPTIONS)
        else:
            channel = grpc.aio.secure_channel(endpoint, self._credentials, options=_CHANNEL_OPTIONS)
        return _Connection(
            endpoint, channel, rpc.KVStub(channel), rpc.WatchStub(channel), rpc.LeaseStub(channel)
        )

    async def _ready(self, channel: grpc.aio.Channel) -> bool:
        """Whether the channel is or becomes connected, without waiting out a backoff."""
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        state = channel.get_state(try_to_connect=True)
        while state is not grpc.ChannelConnectivity.READY:
            if state in (
                grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                grpc.ChannelConnectivity.SHUTDOWN,
            ):
                return False
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), remaining)
            except TimeoutError:
                return False
            state = channel.get_state(try_to_connect=True)
        return True

    async def _connection(self) -> _Connection:
        """The preferred connected endpoint, failing over in order.

        If none connects, the preferred one anyway: a call on it fails at once,
        unsent, with gRPC's reason (refused, TLS handshake, ...) for the error.
        """
        connections = self._bind()
        for step in range(len(connections)):
            index = (self._preferred + step) % len(connections)
            if await self._ready(connections[index].channel):
                self._preferred = index
                return connections[index]
        return connections[self._preferred]

    def _unavailable(self, why: str) -> StoreUnavailable:
        return StoreUnavailable(f"etcd unavailable at {','.join(self.endpoints)}: {why}")

    def _error(self, e: grpc.aio.AioRpcError) -> StoreError:
        """The one place gRPC status codes become store errors."""
        code, details = e.code(), e.details() or ""
        if code in _RETRYABLE:
            return self._unavailable(f"{code.name}: {details}")
        if code is grpc.StatusCode.NOT_FOUND and "lease" in details:
            return LeaseNotFound(details)
        if "request is too large" in details or code is grpc.StatusCode.RESOURCE_EXHAUSTED:
            return TooLarge(f"etcd at {','.join(self.endpoints)}: {details}")
        return StoreError(f"etcd at {','.join(self.endpoints)}: {code.name}: {details}")

    def _closed_error(self) -> StoreError | None:
        """StoreError if a CancelledError came from close() rather than our task's cancel."""
        task = asyncio.current_task()
        if self._closed and (task is None or not task.cancelling()):
            return StoreError(f"{self!r} was closed")
        return None

    async def _call(self, send: Callable[[_Connection], Awaitable[T]], *, retry: bool) -> T:
        """Send on a connected endpoint; on failure after sending, retry only if `retry`."""
        attempts = len(self.endpoints) if retry else 1
        while True:
            connection = await self._connection()
            try:
                return await send(connection)
            except grpc.aio.AioRpcError as e:
                attempts -= 1
                if e.code() not in _RETRYABLE or attempts == 0:
                    raise self._error(e) from e
                self._preferred = (self._preferred + 1) % len(self.endpoints)
            except asyncio.CancelledError:
                if (error := self._closed_error()) is not None:
                    raise error from None
                raise

    def _range(self, request: Any) -> Callable[[_Connection], Awaitable[Any]]:
        return lambda connection: connection.kv.Range(request, timeout=self._timeout_s)

    # -- the Store protocol ---------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        request = rpc.RangeRequest(key=encode_key(key))
        response = await self._call(self._range(request), retry=True)
        return _kv(response.kvs[0]) if response.kvs else None

    async def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        start = prefix.encode() or b"\0"
        end = prefix_end(prefix.encode())
        items: list[KeyValue] = []
        revision = 0  # 0: latest; later pages read at the first page's revision
        while True:
            request = rpc.RangeRequest(key=start, range_end=end, limit=LIST_PAGE, revision=revision)
            response = await self._call(self._range(request), retry=True)
            revision = revision or response.header.revision
            items.extend(_kv(kv) for kv in response.kvs)
            if not response.more:
                return items, revision
            start = response.kvs[-1].key + b"\0"

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expect_mod_revision: int | None = None,
        lease: int = 0,
    ) -> int:
        check_revision("expect_mod_revision", expect_mod_revision)
        put = rpc.PutRequest(key=encode_key(key), value=bytes(value), lease=lease)
        if expect_mod_revision is None:
            response = await self._call(
                lambda c: c.kv.Put(put, timeout=self._timeout_s), retry=False
            )
            return int(response.header.revision)
        txn = rpc.TxnRequest(
            compare=[_compare(put.key, expect_mod_revision)],
            success=[rpc.RequestOp(request_put=put)],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=put.key))],
        )
        response = await self._call(lambda c: c.kv.Txn(txn, timeout=self._timeout_s), retry=False)
        if not response.succeeded:
            raise Conflict(key, expect_mod_revision, _actual_revision(response))
        return int(response.header.revision)

    async def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int | None:
        check_revision("expect_mod_revision", expect_mod_revision)
        delete = rpc.DeleteRangeRequest(key=encode_key(key))
        if expect_mod_revision is None:
            response = await self._call(
                lambda c: c.kv.DeleteRange(delete, timeout=self._timeout_s), retry=False
            )
            return int(response.header.revision) if response.deleted else None
        txn = rpc.TxnRequest(
            compare=[_compare(delete.key, expect_mod_revision)],
            success=[rpc.RequestOp(request_delete_range=delete)],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=delete.key))],
        )
        response = await self._call(lambda c: c.kv.Txn(txn, timeout=self._timeout_s), retry=False)
        if not response.succeeded:
            raise Conflict(key, expect_mod_revision, _actual_revision(response))
        deleted = response.responses[0].response_delete_range.deleted
        return int(response.header.revision) if deleted else None

    async def watch(
        self, prefix: str, *, start_revision: int | None = None
    ) -> AsyncGenerator[KeyEvent, None]:
        check_revision("start_revision", start_revision, minimum=1)
        key, end = prefix.encode() or b"\0", prefix_end(prefix.encode())
        next_revision = start_revision  # None until etcd says where "now" is
        failures = 0
        while True:
            connection = await self._connection()
            call = connection.watch.Watch()
            try:
                create = rpc.WatchCreateRequest(
                    key=key, range_end=end, start_revision=next_revision or 0
                )
                await call.write(rpc.WatchRequest(create_request=create))
                while (response := await call.read()) is not grpc.aio.EOF:
                    if response.compact_revision:
                        raise Compacted(response.compact_revision)
                    if response.canceled:
                        raise StoreError(
                            f"etcd cancelled the watch on {prefix!r}: {response.cancel_reason}"
                        )
                    if response.created:
                        failures = 0
                        next_revision = next_revision or response.header.revision + 1
                    for event in response.events:
                        next_revision = event.kv.mod_revision + 1
                        yield KeyEvent(_EVENT_TYPES[event.type], _kv(event.kv))
                failure: StoreError = self._unavailable("the watch stream ended")
            except grpc.aio.AioRpcError as e:
                if e.code() not in _RETRYABLE:
                    raise self._error(e) from e
                failure = self._error(e)
            except asyncio.CancelledError:
                if (error := self._closed_error()) is not None:
                    raise error from None
                raise
            finally:
                call.cancel()
            # The stream broke: resume where it stopped, on another endpoint if there is one.
            failures += 1
            if failures > len(self.endpoints):
                raise failure
            self._preferred = (self._preferred + 1) % len(self.endpoints)

    async def grant_lease(self, ttl_s: float) -> int:
        if not ttl_s > 0:
            raise ValueError(f"lease TTL must be > 0 seconds, got {ttl_s}")
        request = rpc.LeaseGrantRequest(TTL=math.ceil(ttl_s))
        # Retrying is safe: a lease granted by a lost reply expires unused.
        response = await self._call(
            lambda c: c.lease.LeaseGrant(request, timeout=self._timeout_s), retry=True
        )
        if response.error:
            raise StoreError(f"etcd refused a lease: {response.error}")
        return int(response.ID)

    async def keepalive(self, lease_id: int) -> None:
        request = rpc.LeaseKeepAliveRequest(ID=lease_id)

        async def refresh(connection: _Connection) -> int:
            call = connection.lease.LeaseKeepAlive(timeout=self._timeout_s)
            try:
                await call.write(request)
                response = await call.read()
            finally:
                call.cancel()
            if response is grpc.aio.EOF:
                raise self._unavailable("the keepalive stream ended")
            return int(response.TTL)

        if await self._call(refresh, retry=True) <= 0:
            raise LeaseNotFound(f"lease {lease_id} not found (expired or revoked)")

    async def revoke_lease(self, lease_id: int) -> None:
        request = rpc.LeaseRevokeRequest(ID=lease_id)
        await self._call(
            lambda c: c.lease.LeaseRevoke(request, timeout=self._timeout_s), retry=False
        )

    async def revision(self) -> int:
        request = rpc.RangeRequest(key=b"\0", count_only=True)
        response = await self._call(self._range(request), retry=True)
        return int(response.header.revision)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # before closing channels: their calls end in CancelledError
        for connection in self._connections or ():
            await connection.channel.close()

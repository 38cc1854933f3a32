"""Requests that do not decode: the caller's error, answered INVALID_ARGUMENT, logged sparingly.

gRPC's own handling of a request that fails to parse is an UNKNOWN status and a
logged traceback per request, so any unauthenticated caller could fill the log.
`TolerantDecoding`, the server's outermost interceptor, wraps every method's
request deserializer so that bytes that do not parse become an
`Undecodable` request, which unary and server-streaming methods answer with
INVALID_ARGUMENT before the servicer runs. Bidirectional streams (Connect) read
their messages themselves and check for `Undecodable`. Each method logs at most
one line per `LOG_INTERVAL_S`, with how many it refused since the last line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from controlplane.api.interceptors import Continuation, with_behavior

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 10.0


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A request whose bytes are not a message of the method's request type."""

    method: str
    size_bytes: int
    reason: str

    def message(self) -> str:
        return (
            f"request: {self.size_bytes} bytes that are not a valid {self.method} request "
            f"({self.reason})"
        )


@dataclass
class RateLimitedLog:
    """One warning per method per interval, counting the refusals in between."""

    interval_s: float = LOG_INTERVAL_S
    clock: Callable[[], float] = time.monotonic
    # method -> (when it was last logged, refusals not yet logged)
    _state: dict[str, tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    refused: int = 0  # in all, since start

    def note(self, method: str, reason: str) -> bool:
        """Counts one refusal; logs (and returns True) if the method's interval has passed."""
        now = self.clock()
        with self._lock:
            self.refused += 1
            last, pending = self._state.get(method, (-float("inf"), 0))
            if now - last < self.interval_s:
                self._state[method] = (last, pending + 1)
                return False
            self._state[method] = (now, 0)
        log.warning(
            "refused %d undecodable %s request(s) in the last %.0fs (latest: %s)",
            pending + 1,
            method,
            self.interval_s,
            reason,
        )
        return True


UNDECODABLE_LOG = RateLimitedLog()


def _tolerant_deserializer(
    method: str, deserialize: Callable[[bytes], Any], journal: RateLimitedLog
) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except (DecodeError, ValueError, RecursionError) as e:
            reason = str(e)[:200]
            journal.note(method, reason)
            return Undecodable(method, len(data), reason)

    return parse


def _refusing(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
    """The method, preceded by INVALID_ARGUMENT for an undecodable request."""
    if streaming:

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message())
            async for item in behavior(request, context):
                yield item

        return stream

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message())
        return await behavior(request, context)

    return unary


def tolerant_handler(
    method: str, handler: grpc.RpcMethodHandler, journal: RateLimitedLog = UNDECODABLE_LOG
) -> grpc.RpcMethodHandler:
    """The handler with a deserializer that never raises (see the module docstring)."""
    if handler.request_deserializer is None:
        return handler
    name = method.rsplit("/", 1)[-1] or method
    parse = _tolerant_deserializer(name, handler.request_deserializer, journal)
    changes: dict[str, Any] = {"request_deserializer": parse}
    if handler.unary_unary is not None:
        changes["unary_unary"] = _refusing(handler.unary_unary, streaming=False)
    elif handler.unary_stream is not None:
        changes["unary_stream"] = _refusing(handler.unary_stream, streaming=True)
    return with_behavior(handler, **changes)


class TolerantDecoding(grpc.aio.ServerInterceptor):
    """The server's outermost interceptor: every method's deserializer never raises."""

    def __init__(self, journal: RateLimitedLog = UNDECODABLE_LOG) -> None:
        self._journal = journal
        # Wrapped once per method: a stream holds its handler for its life, one per node.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Continuation,
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        if handler is None:
            return handler
        cached = self._wrapped.get(details.method)
        if cached is None or cached[0] is not handler:
            cached = handler, tolerant_handler(details.method, handler, self._journal)
            self._wrapped[details.method] = cached
        return cached[1]


__all__ = [
    "LOG_INTERVAL_S",
    "RateLimitedLog",
    "TolerantDecoding",
    "Undecodable",
    "tolerant_handler",
]

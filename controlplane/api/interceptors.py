"""What the server's interceptors share: grpc.aio's continuation type, a handler
with one behaviour swapped, and the audit log's face to the API.

The generated handlers are namedtuples (grpc's RpcMethodHandler), so `_replace`
keeps the (de)serializers and streaming flags as they are; building a new handler
with `grpc.*_rpc_method_handler` instead would drop any the wrapped handler had
changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import grpc

# Quoted: grpc's handler type is generic only in its stubs, not at run time.
Continuation = Callable[
    [grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]
]
UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class Audit(Protocol):
    """Records a call that is not an RPC of its own in the audit log
    (controlplane/server/audit.py): a Join carried by a Connect stream's Hello."""

    def call(
        self, method: str, target: tuple[str, str], context: grpc.aio.ServicerContext
    ) -> contextlib.AbstractContextManager[None]: ...


def with_behavior(handler: grpc.RpcMethodHandler, **behavior: Any) -> grpc.RpcMethodHandler:
    """`handler` with the given fields (`unary_unary=...`, `request_deserializer=...`)
    replaced and every other one kept."""
    replaced: grpc.RpcMethodHandler = handler._replace(**behavior)  # type: ignore[attr-defined]
    return replaced


__all__ = ["Audit", "Continuation", "UnaryBehavior", "with_behavior"]

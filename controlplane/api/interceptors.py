"""What the server's interceptors share: grpc.aio's continuation type, and a handler
with one behaviour swapped.

The generated handlers are namedtuples (grpc's RpcMethodHandler), so `_replace`
keeps the (de)serializers and streaming flags as they are; building a new handler
with `grpc.*_rpc_method_handler` instead would drop any the wrapped handler had
changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

# Quoted: grpc's handler type is generic only in its stubs, not at run time.
Continuation = Callable[
    [grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]
]
UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def with_behavior(handler: grpc.RpcMethodHandler, **behavior: Any) -> grpc.RpcMethodHandler:
    """`handler` with the given fields (`unary_unary=...`, `request_deserializer=...`)
    replaced and every other one kept."""
    replaced: grpc.RpcMethodHandler = handler._replace(**behavior)  # type: ignore[attr-defined]
    return replaced


__all__ = ["Continuation", "UnaryBehavior", "with_behavior"]

"""Only the leader serves: a gRPC interceptor that turns standbys away.

With `--leader-elect`, every replica runs the gRPC server (so health probes and
reflection answer) but only the elected one serves the Agent and Fleet APIs; a
standby answers UNAVAILABLE, which agents and tpctl retry, and the Kubernetes
Service sends traffic only to the ready (leading) pod.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from controlplane.api.interceptors import Continuation, with_behavior

GUARDED_PREFIX = "/tokenplane.v1."


class LeaderOnly(grpc.aio.ServerInterceptor):
    def __init__(self, is_leader: Callable[[], bool]) -> None:
        self._is_leader = is_leader

    async def intercept_service(
        self,
        continuation: Continuation,
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(GUARDED_PREFIX) or self._is_leader():
            return handler
        return _refusal(handler, "this control-plane replica is a standby; retry for the leader")


def _refusal(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that refuses the call.

    A streaming response's refusal is an async generator, as the servicers' own
    are: the interceptors around it (tracing's among them) iterate it.
    """

    async def refuse(request: object, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAVAILABLE, message)

    async def refuse_stream(
        request: object, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        await refuse(request, context)
        yield  # never reached: makes this a generator

    shape = (
        f"{'stream' if handler.request_streaming else 'unary'}_"
        f"{'stream' if handler.response_streaming else 'unary'}"
    )
    return with_behavior(
        handler, **{shape: refuse_stream if handler.response_streaming else refuse}
    )

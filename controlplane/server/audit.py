"""The audit log: one JSON line per mutating call (who, what, when, the result).

Modelled on the Kubernetes audit log, at its Metadata level: the caller as the
API authenticated it (an API token's name and role, a node, or a join token's
id), the verb, the object's kind and name, the time (RFC 3339) and the gRPC
status code. Never a token, and never the request's body.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from controlplane.api.auth import Caller, current_caller
from controlplane.api.interceptors import Continuation, with_behavior
from controlplane.resources.codec import ONEOF_FIELD

log = logging.getLogger(__name__)

_KIND_OF_FIELD = {field: kind for kind, field in ONEOF_FIELD.items()}


def _apply_target(request: Any) -> tuple[str, str]:
    field = request.resource.WhichOneof("resource") or ""
    body = getattr(request.resource, field) if field else None
    return _KIND_OF_FIELD.get(field, field), body.metadata.name if body is not None else ""


def _fixed(kind: str, attribute: str) -> Callable[[Any], tuple[str, str]]:
    return lambda request: (kind, str(getattr(request, attribute)))


# What each mutating method changes: (kind, name) from its request.
AUDITED: dict[str, Callable[[Any], tuple[str, str]]] = {
    "/tokenplane.v1.FleetService/Apply": _apply_target,
    "/tokenplane.v1.FleetService/Delete": lambda r: (r.kind, r.name),
    "/tokenplane.v1.FleetService/Cordon": _fixed("Node", "name"),
    "/tokenplane.v1.FleetService/Uncordon": _fixed("Node", "name"),
    "/tokenplane.v1.FleetService/Drain": _fixed("Node", "name"),
    "/tokenplane.v1.AgentService/Join": lambda r: ("Node", r.node.metadata.name),
    "/tokenplane.v1.IdentityService/CreateJoinToken": lambda r: ("JoinToken", ""),
    "/tokenplane.v1.IdentityService/DeleteJoinToken": _fixed("JoinToken", "id"),
    "/tokenplane.v1.IdentityService/ApproveNode": _fixed("Node", "name"),
    "/tokenplane.v1.IdentityService/RevokeNode": _fixed("Node", "name"),
}


def audit_record(
    *, when: datetime, user: str, method: str, target: tuple[str, str], code: str, peer: str
) -> dict[str, str]:
    service, _, verb = method.removeprefix("/tokenplane.v1.").partition("/")
    kind, name = target
    return {
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "user": user or "unauthenticated",
        "verb": verb,
        "service": service,
        "kind": kind,
        "name": name[:253],
        "code": code,
        "peer": peer,
    }


def _code_name(code: object) -> str:
    if isinstance(code, grpc.StatusCode):
        return code.name
    by_value = {c.value[0]: c.name for c in grpc.StatusCode}
    return by_value.get(code, "UNKNOWN") if isinstance(code, int) else "UNKNOWN"


class AuditLog(grpc.aio.ServerInterceptor):
    """Appends a record for every call of AUDITED to a JSON-lines file (created 0600)."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "a", buffering=1)
        self._clock = clock

    def close(self) -> None:
        self._file.close()

    def write(self, record: dict[str, str]) -> None:
        try:
            self._file.write(json.dumps(record) + "\n")
        except (OSError, ValueError):
            log.warning("could not write the audit log")

    async def intercept_service(
        self,
        continuation: Continuation,
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        method = details.method
        target_of = AUDITED.get(method)
        if handler is None or target_of is None or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary

        async def audited(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                target = target_of(request)
            except Exception:
                target = ("", "")
            with self.call(method, target, context):
                return await behavior(request, context)  # type: ignore[arg-type]

        return with_behavior(handler, unary_unary=audited)

    @contextlib.contextmanager
    def call(
        self, method: str, target: tuple[str, str], context: grpc.aio.ServicerContext
    ) -> Iterator[None]:
        """Records the call made in the body: as an RPC of its own (above), or carried by
        another (a Join on a Connect stream). The API names the caller (`note_caller`)."""
        caller = Caller()
        token = current_caller.set(caller)
        code: object = grpc.StatusCode.OK
        try:
            yield
        except grpc.aio.AbortError:
            code = context.code()
            raise
        except BaseException:
            code = grpc.StatusCode.UNKNOWN
            raise
        finally:
            current_caller.reset(token)
            self.write(
                audit_record(
                    when=self._clock(),
                    user=caller.name,
                    method=method,
                    target=target,
                    code=_code_name(code),
                    peer=context.peer(),
                )
            )

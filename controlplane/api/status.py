"""The one place where core errors become gRPC status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from controlplane.errors import (
    AlreadyExists,
    ControlPlaneError,
    Exhausted,
    Forbidden,
    Invalid,
    NotFound,
    OutOfRange,
    StaleVersion,
    Timeout,
    Unauthenticated,
)
from controlplane.resources import ManifestError
from controlplane.store import StoreUnavailable, TooLarge

log = logging.getLogger(__name__)

_CODES: list[tuple[type[Exception], grpc.StatusCode]] = [
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (StaleVersion, grpc.StatusCode.ABORTED),
    (Invalid, grpc.StatusCode.INVALID_ARGUMENT),
    (ManifestError, grpc.StatusCode.INVALID_ARGUMENT),
    (OutOfRange, grpc.StatusCode.OUT_OF_RANGE),
    (Exhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    (StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
    (Timeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (ControlPlaneError, grpc.StatusCode.FAILED_PRECONDITION),
]
# The longest status message sent: gRPC carries it in a trailer, and a client refuses
# trailers beyond its metadata limit (8 KiB by default), losing the error itself.
MAX_DETAILS_CHARS = 4000


# Trailing metadata of a refusal that asks the caller to wait (agents/connection.py).
RETRY_AFTER_KEY = "retry-after-ms"


def code_of(error: Exception) -> grpc.StatusCode:
    return next(
        (code for kind, code in _CODES if isinstance(error, kind)), grpc.StatusCode.INTERNAL
    )


async def _abort(context: grpc.aio.ServicerContext, error: Exception) -> None:
    code = code_of(error)
    if code is grpc.StatusCode.INTERNAL:
        log.exception("internal error")
        await context.abort(code, f"internal error: {type(error).__name__}")
    await context.abort(code, details(error))


def details(error: Exception) -> str:
    """The error's message as sent: clipped to MAX_DETAILS_CHARS, saying so."""
    text = str(error)
    if len(text) <= MAX_DETAILS_CHARS:
        return text
    return f"{text[:MAX_DETAILS_CHARS]}... ({len(text) - MAX_DETAILS_CHARS} more characters)"


T = TypeVar("T")


def unary(
    method: Callable[..., Awaitable[T]],
) -> Callable[..., Awaitable[T]]:
    """Wraps a unary servicer method so that every error gets its status code."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as e:  # the server must stay up whatever a request does
            await _abort(context, e)
            raise AssertionError("unreachable") from e

    return wrapper


def streaming(
    method: Callable[..., AsyncIterator[T]],
) -> Callable[..., AsyncIterator[T]]:
    """Like `unary`, for server-streaming methods."""

    @functools.wraps(method)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[T]:
        try:
            async for item in method(self, request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as e:
            await _abort(context, e)

    return wrapper

"""Waiting for what a test expects, instead of sleeping for a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], object],
    timeout_s: float = 30.0,
    what: str = "the condition",
    *,
    ignoring: tuple[type[Exception], ...] = (),
) -> float:
    """Polls `check` until it is truthy; returns the seconds it took, or fails saying `what`.

    Exceptions of the types in `ignoring` (a server not up yet) count as "not yet".
    """
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        try:
            if check():
                return time.monotonic() - start
        except ignoring:
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        time.sleep(0.05)


async def async_wait_until(
    check: Callable[[], object], timeout_s: float = 30.0, what: str = "the condition"
) -> float:
    """`wait_until` for a test running on an event loop: polls without blocking it."""
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        await asyncio.sleep(0.05)


async def take(events: AsyncIterator[T], n: int, timeout_s: float = 5.0) -> list[T]:
    """The next `n` items of `events` (a watch), or TimeoutError."""

    async def collect() -> list[T]:
        return [await anext(events) for _ in range(n)]

    return await asyncio.wait_for(collect(), timeout_s)

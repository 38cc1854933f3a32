"""The agent's reconnect backoff: full jitter within a window that doubles up to the cap.

The timing of a real fleet against a killed server is measured by
benchmarks/restart_storm.py; these check the arithmetic it relies on.
"""

from __future__ import annotations

import random

import grpc
import pytest

from agents.connection import RETRY_AFTER_KEY, Backoff, retry_after_s


def test_full_jitter_fills_the_window_which_doubles_to_the_cap() -> None:
    backoff, rng = Backoff(), random.Random(1)
    for attempt, window_s in [(0, 2.0), (1, 4.0), (3, 16.0), (4, 30.0), (12, 30.0)]:
        delays = [backoff.delay_s(attempt, rng, window_s=2.0) for _ in range(2_000)]
        assert 0 <= min(delays) < 0.05 * window_s, "full jitter starts at zero"
        assert 0.95 * window_s < max(delays) <= window_s
        assert sum(delays) / len(delays) == pytest.approx(window_s / 2, rel=0.1)


def test_without_a_window_from_the_server_the_agent_starts_from_its_own() -> None:
    backoff, rng = Backoff(), random.Random(2)
    delays = [backoff.delay_s(0, rng) for _ in range(1_000)]
    assert max(delays) <= backoff.initial_s


def test_documented_timings() -> None:
    """docs/agent.md: 1 s doubling to 30 s; reset after a stream stayed up 60 s."""
    assert (Backoff().initial_s, Backoff().max_s, Backoff().healthy_s) == (1.0, 30.0, 60.0)


def test_a_servers_retry_after_is_a_floor_with_jitter_on_top() -> None:
    backoff, rng = Backoff(), random.Random(3)
    delays = [backoff.retry_after_s(10.0, rng) for _ in range(1_000)]
    assert min(delays) >= 10.0 and max(delays) <= 11.0
    assert max(delays) - min(delays) > 0.9, "refused agents do not come back in step"
    # The server's wait is obeyed beyond the agent's own backoff cap (a join storm's slot).
    assert backoff.retry_after_s(200.0, rng) >= 200.0 > backoff.max_s


class _Refusal(grpc.aio.AioRpcError):
    def __init__(self, trailing: tuple[tuple[str, str], ...]) -> None:
        super().__init__(
            grpc.StatusCode.ALREADY_EXISTS,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(*trailing),
            details="node n already has a live session",
        )


def test_retry_after_is_read_from_the_refusals_trailing_metadata() -> None:
    assert retry_after_s(_Refusal(((RETRY_AFTER_KEY, "1500"),))) == 1.5
    assert retry_after_s(_Refusal(())) == 0.0
    assert retry_after_s(_Refusal(((RETRY_AFTER_KEY, "soon"),))) == 0.0  # logged, ignored

"""Join admission: a bounded number of Joins in flight; the rest are told when to come back.

A Join costs the server about a millisecond of CPU (decode, validate, a store
write). When 10,000 agents join at once on a busy machine, an unbounded queue
grows past the agents' Join deadline (10 s): they time out and retry while the
server spends its time on Joins whose callers have gone, and the fleet never
gets in (benchmarks/heartbeats.py --busy 1 saw 3,786 of 10,000). So the Joins
in flight are bounded by what the server completes in QUEUE_S at its measured
rate, well inside that deadline; a Join beyond is refused at once with
RESOURCE_EXHAUSTED and a retry-after, and one whose caller's deadline has
passed is dropped unworked.

Each refused agent is given its own time to come back, the next free slot at
the measured join rate (a reservation, as a GCRA rate limiter makes): 15,000
agents refused at 30 Joins a second are told 1 s, 1.03 s, ... 500 s, and come
back one by one as capacity frees, each refused about once. The first design
told them all "waiting / rate, at most 30 s", and at 19,800 nodes the agents
returning every 30-60 s were 300 refused connections a second against 30 Joins:
refusing them cost the server as much as joining them. A slot further off than
MAX_RETRY_AFTER_S is not reserved; that agent comes back then and gets a slot.
Agents wait what they are told plus up to a tenth (agents/connection.py).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import grpc

from controlplane.api.agent import RETRY_AFTER_KEY
from controlplane.api.interceptors import Continuation, UnaryBehavior, with_behavior

JOIN_METHOD = "/tokenplane.v1.AgentService/Join"
QUEUE_S = 3.0  # Joins admitted: what the measured rate completes in this long
MIN_JOINS_IN_FLIGHT = 64  # enough to fill a group commit (store/sqlite.py)
MIN_RETRY_AFTER_S = 1.0
MAX_RETRY_AFTER_S = 300.0  # agents honour a server's wait up to connection.MAX_TOLD_WAIT_S
RATE_WINDOW_S = 5.0
ASSUMED_RATE_PER_S = 200.0  # until Joins have been measured
# A floor for the measured rate only: a server completing 40 Joins a second (10k
# joining on a busy machine) that kept admitting 600 made them wait past their
# callers' deadline, and the work was lost.
MIN_RATE_PER_S = 1.0
# Below this much time left, the caller will have given up before the Join is done.
MIN_TIME_LEFT_S = 0.05


@dataclass
class JoinGate:
    """Admission arithmetic over times passed in; no clock, no I/O."""

    min_limit: int = MIN_JOINS_IN_FLIGHT
    queue_s: float = QUEUE_S
    in_flight: int = 0
    _done_at: deque[float] = field(default_factory=deque)
    next_slot_s: float = 0.0  # when the next refused agent is told to come back

    def admit(self, now_s: float) -> float | None:
        """None: go ahead (call `done` after). Else the seconds to tell the caller to wait."""
        rate_per_s = self.rate_per_s(now_s)
        if self.in_flight < max(self.min_limit, rate_per_s * self.queue_s):
            self.in_flight += 1
            return None
        slot_s = max(self.next_slot_s, now_s + MIN_RETRY_AFTER_S)
        if slot_s - now_s > MAX_RETRY_AFTER_S:
            return MAX_RETRY_AFTER_S  # not reserved: it comes back then for a slot
        self.next_slot_s = slot_s + 1 / rate_per_s
        return slot_s - now_s

    def done(self, now_s: float, *, joined: bool = True) -> None:
        """A Join admitted has ended; only one that `joined` counts toward the rate, so a
        burst of refused credentials cannot pass for capacity."""
        self.in_flight -= 1
        if joined:
            self._done_at.append(now_s)
        self._trim(self._done_at, now_s - RATE_WINDOW_S)

    def rate_per_s(self, now_s: float) -> float:
        """Joins completed a second, over the last RATE_WINDOW_S (or since the first one)."""
        self._trim(self._done_at, now_s - RATE_WINDOW_S)
        if len(self._done_at) < 2:
            return ASSUMED_RATE_PER_S
        span_s = max(now_s - self._done_at[0], 1.0)
        return max(MIN_RATE_PER_S, len(self._done_at) / span_s)

    @staticmethod
    def _trim(times: deque[float], before_s: float) -> None:
        while times and times[0] < before_s:
            times.popleft()


class JoinAdmission(grpc.aio.ServerInterceptor):
    """Puts the JoinGate in front of AgentService.Join."""

    def __init__(
        self, gate: JoinGate | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.gate = gate or JoinGate()
        self._clock = clock

    async def intercept_service(
        self,
        continuation: Continuation,
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        if handler is None or details.method != JOIN_METHOD or handler.unary_unary is None:
            return handler
        # In grpc.aio a unary behavior is a coroutine function over an aio context.
        behavior = cast(UnaryBehavior, handler.unary_unary)
        gate, clock = self.gate, self._clock

        async def admitted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            left_s = context.time_remaining()
            if left_s is not None and left_s < MIN_TIME_LEFT_S:
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed in queue")
            wait_s = gate.admit(clock())
            if wait_s is not None:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"too many nodes joining at once; retry in {wait_s:.1f} s",
                    trailing_metadata=((RETRY_AFTER_KEY, str(round(wait_s * 1000))),),
                )
            try:
                response = await behavior(request, context)
            except BaseException:
                gate.done(clock(), joined=False)
                raise
            gate.done(clock())
            return response

        return with_behavior(handler, unary_unary=admitted)

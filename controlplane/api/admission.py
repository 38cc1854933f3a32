"""Join admission: a few Joins worked at once, more waiting their turn, the rest told
when to come back.

A Join costs the server about a millisecond of CPU (decode, validate, a store
write). When 10,000 agents join at once on a busy machine, the server must
neither work on all of them at once (each waits for all the others, past its
caller's deadline) nor send them away to guess when to return (the server then
idles while they are away, and their returns cost as much as Joins).

So JOIN_WORKERS Joins are worked at once, enough to fill a group commit; the
next ones wait in a FIFO queue, holding only their open call, and each takes
a worker's place the moment one finishes: the server is never idle while a
Join waits. The queue holds what the server completes in QUEUE_S at its
measured rate, well inside the agents' Join deadline (JOIN_TIMEOUT_S in
agents/connection.py), so a queued Join is worked before its caller gives up;
one whose caller has gone is dropped unworked.

The queue also leaves the process file descriptors to spare (each queued
Join holds its connection's): at 19,800 nodes under a 20,000-descriptor
limit a full queue ran the server out of them.

A Join carried by a Connect stream's Hello takes its turn the same way
(`turn`), so a storm of agents joining on their streams queues as one of Join
calls does.

Beyond the queue, a Join is refused at once with RESOURCE_EXHAUSTED and a
retry-after: each refused agent its own slot after the queue has drained, at
twice the measured rate (early costs a wait in the queue, late an idle server),
a reservation as a GCRA rate limiter makes. So 15,000 agents refused at 30 Joins
a second come back one by one as the queue empties, each refused about once. A
slot further off than MAX_RETRY_AFTER_S is not reserved; that agent comes back
then and gets one.

The rate is measured only while Joins wait: then the workers never idle, so
Joins completed a second is what the server can do. While none wait it is only
what was asked, and a rate measured then (the first design) told agents to
stay away as long as few came back, a pace that could never rise.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import grpc

from controlplane.api.interceptors import Continuation, UnaryBehavior, with_behavior
from controlplane.api.status import RETRY_AFTER_KEY

JOIN_METHOD = "/tokenplane.v1.AgentService/Join"
JOIN_WORKERS = 64  # enough to fill a group commit (store/sqlite.py)
QUEUE_S = 20.0  # Joins that wait: what the measured rate completes in this long
MIN_QUEUE = 256
MIN_RETRY_AFTER_S = 1.0
MAX_RETRY_AFTER_S = 300.0  # agents honour a server's wait up to connection.MAX_TOLD_WAIT_S
RATE_WINDOW_S = 5.0
# Slots are handed out this much faster than the measured rate: an agent back early
# waits in the queue (or is refused again, a fraction of a millisecond of the server's
# time), one back late leaves the server idle. The rate can double within a storm (the
# fleet's heartbeats yield once Joins wait); at the measured pace, 19,800 nodes spent
# their last 50 s bringing in 86, and at 1.5 times it 10,000 their last 45 s bringing
# in 67 (their slots set while the rate measured low).
SLOT_PACE = 2.0
ASSUMED_RATE_PER_S = 200.0  # until Joins have been measured while others waited
MIN_RATE_PER_S = 1.0
# Below this much time left, the caller will have given up before the Join is done.
MIN_TIME_LEFT_S = 0.05
# File descriptors kept free of queued Joins (each holds its connection's).
MIN_FREE_FDS = 256
FREE_FDS_SHARE = 0.02
# A storm lasts this long past the last Join that had to wait: heartbeats yield to Joins
# meanwhile (liveness.JOIN_STORM_SHARE), without flipping with every lull in the queue.
STORM_HOLD_S = 10.0


class Turn(enum.Enum):
    NOW = "now"  # a worker is free
    QUEUED = "queued"  # wait for a worker


@dataclass
class JoinGate:
    """Admission arithmetic over times passed in; no clock, no I/O."""

    workers: int = JOIN_WORKERS
    queue_s: float = QUEUE_S
    min_queue: int = MIN_QUEUE
    in_flight: int = 0  # Joins being worked
    waiting: int = 0  # Joins queued for a worker
    rate_per_s: float = ASSUMED_RATE_PER_S  # as last measured while Joins waited
    next_slot_s: float = 0.0  # when the next refused agent is told to come back
    # Descriptors for connections: the process's limit less those it held before
    # serving (None: no limit known). Each stream and each Join worked or queued holds one.
    fd_budget: int | None = None
    streams: int = 0  # open agent streams, as the server last counted them
    min_free_fds: int = MIN_FREE_FDS
    waited_at_s: float = -math.inf  # when a Join last had to wait (queued or refused)
    _done_at: deque[float] = field(default_factory=deque)

    def storm(self, now_s: float) -> bool:
        """Whether Joins wait their turn, or did within STORM_HOLD_S (the server asks every
        sweep, which keeps the clock of the last wait)."""
        if self.waiting:
            self.waited_at_s = now_s
        return now_s - self.waited_at_s < STORM_HOLD_S

    def admit(self, now_s: float) -> Turn | float:
        """The Join's turn, or the seconds to tell its caller to wait."""
        if self.in_flight < self.workers:
            self.in_flight += 1
            return Turn.NOW
        self.waited_at_s = now_s
        if self.waiting < max(self.min_queue, self.rate_per_s * self.queue_s) and self._fds_spare():
            self.waiting += 1
            return Turn.QUEUED
        pace_per_s = self.rate_per_s * SLOT_PACE
        drained_s = now_s + self.waiting / pace_per_s
        slot_s = max(self.next_slot_s, drained_s, now_s + MIN_RETRY_AFTER_S)
        if slot_s - now_s > MAX_RETRY_AFTER_S:
            return MAX_RETRY_AFTER_S  # not reserved: it comes back then for a slot
        self.next_slot_s = slot_s + 1 / pace_per_s
        return slot_s - now_s

    def done(self, now_s: float, *, joined: bool = True) -> bool:
        """A Join worked has ended. True: the first one waiting takes its worker
        (call `left_queue` for it), else the worker is free.

        Only a Join that `joined` while others waited counts toward the rate, so
        neither a lull nor a burst of refused credentials passes for capacity.
        """
        if joined and self.waiting:
            self._done_at.append(now_s)
            self._measure(now_s)
        if self.waiting:
            return True
        self.in_flight -= 1
        return False

    def left_queue(self) -> None:
        """A queued Join left the queue: to take the worker `done` kept for it, or gone."""
        self.waiting -= 1

    def _fds_spare(self) -> bool:
        """Whether one more queued Join leaves the descriptors kept free (2%, at least
        min_free_fds) for connections being closed, the store and operators' calls."""
        if self.fd_budget is None:
            return True
        held = self.streams + self.in_flight + self.waiting
        free = max(self.min_free_fds, FREE_FDS_SHARE * self.fd_budget)
        return self.fd_budget - held > free

    def _measure(self, now_s: float) -> None:
        while self._done_at and self._done_at[0] < now_s - RATE_WINDOW_S:
            self._done_at.popleft()
        if len(self._done_at) >= 2:
            span_s = max(now_s - self._done_at[0], 1.0)
            self.rate_per_s = max(MIN_RATE_PER_S, len(self._done_at) / span_s)


class JoinAdmission(grpc.aio.ServerInterceptor):
    """Puts the JoinGate in front of AgentService.Join, and of the Joins that Connect
    streams carry (`turn`), with the queue it keeps waiting."""

    def __init__(
        self, gate: JoinGate | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.gate = gate or JoinGate()
        self._clock = clock
        self._queue: deque[asyncio.Future[None]] = deque()

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

        async def admitted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with self.turn(context):
                return await behavior(request, context)

        return with_behavior(handler, unary_unary=admitted)

    @contextlib.asynccontextmanager
    async def turn(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        """Holds a Join worker for the body: at once, after a wait in the queue, or
        never (the call is aborted with RESOURCE_EXHAUSTED and a retry-after)."""
        turn = self.gate.admit(self._clock())
        if not isinstance(turn, Turn):
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many nodes joining at once; retry in {turn:.1f} s",
                trailing_metadata=((RETRY_AFTER_KEY, str(round(turn * 1000))),),
            )
        if turn is Turn.QUEUED:
            await self._wait_turn()
        joined = False
        try:
            left_s = context.time_remaining()
            if left_s is not None and left_s < MIN_TIME_LEFT_S:
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed in queue")
            yield
            joined = True
        finally:
            self._release(joined)

    async def _wait_turn(self) -> None:
        turn = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            # Shielded: a cancelled caller must not cancel `turn` before this handler
            # has counted it out of the queue, or a release in between finds no waiter.
            await asyncio.shield(turn)
        except BaseException:  # the caller went away while waiting
            if turn.done() and not turn.cancelled():
                self._release(joined=False)  # handed a worker as it left: pass it on
            else:
                turn.cancel()  # left in the queue, skipped when its turn comes
                self.gate.left_queue()
            raise

    def _release(self, joined: bool) -> None:
        if not self.gate.done(self._clock(), joined=joined):
            self._queue.clear()  # none waits: only the turns of callers gone are left
            return
        while (turn := self._queue.popleft()).done():
            pass  # its caller went away
        self.gate.left_queue()
        turn.set_result(None)

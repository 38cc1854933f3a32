"""Short garbage-collector passes for the server, which holds a large, long-lived state.

CPython's full (generation 2) pass walks every tracked object. A server holding
10,000 agent streams tracks millions of them, nearly all alive for the process's
life, and the pass stops the event loop for 0.4-0.75 s on a quiet machine (1-2 s
on a busy one) to collect a few dozen (measured with gc.callbacks beside
benchmarks/heartbeats.py). The streams' heartbeats queue up meanwhile, the
liveness deadline stretches with them, and Joins wait.

Not for the hollow fleet: there it was measured worse. 9,900 hollow nodes in one
process that froze every 30 s stalled for 9-16 s at a time in a 19,800-node join
storm (2-3 s without), the server's pings went unanswered and the fleet churned.

So every FREEZE_EVERY_S the objects alive are frozen (`gc.freeze`): moved to a
permanent generation that passes skip. Garbage that was frozen while alive and
later dies in a reference cycle is not collected while frozen, so every
THAW_EVERY_S they are thawed (`gc.unfreeze`) and the next full pass, one long
pause an hour instead of one every few seconds, reclaims those cycles.
"""

from __future__ import annotations

import asyncio
import enum
import gc
import time
from collections.abc import Callable

FREEZE_EVERY_S = 30.0
THAW_EVERY_S = 3600.0


class Step(enum.Enum):
    FREEZE = "freeze"
    THAW = "thaw"


def next_step(now_s: float, thawed_at_s: float, thaw_every_s: float = THAW_EVERY_S) -> Step:
    """What to do at a freeze tick: thaw once an hour, else freeze what is alive now."""
    return Step.THAW if now_s - thawed_at_s >= thaw_every_s else Step.FREEZE


async def keep_collections_short(
    clock: Callable[[], float] = time.monotonic,
    *,
    freeze_every_s: float = FREEZE_EVERY_S,
    thaw_every_s: float = THAW_EVERY_S,
) -> None:
    """Forever: freeze the long-lived objects, and thaw them now and then (see above)."""
    thawed_at_s = clock()
    while True:
        await asyncio.sleep(freeze_every_s)
        now_s = clock()
        if next_step(now_s, thawed_at_s, thaw_every_s) is Step.THAW:
            gc.unfreeze()
            thawed_at_s = now_s
        else:
            gc.freeze()

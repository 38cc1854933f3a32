"""The collector's long-lived objects are frozen every half minute and thawed hourly."""

from __future__ import annotations

import asyncio
import gc

from controlplane.gcfreeze import Step, keep_collections_short, next_step


def test_it_freezes_at_each_tick_and_thaws_once_an_hour() -> None:
    assert next_step(now_s=30.0, thawed_at_s=0.0) is Step.FREEZE
    assert next_step(now_s=3_599.0, thawed_at_s=0.0) is Step.FREEZE
    assert next_step(now_s=3_600.0, thawed_at_s=0.0) is Step.THAW


def test_objects_alive_at_a_tick_are_left_out_of_full_passes() -> None:
    """On this process's real collector: what a tick froze is no longer in generation 2,
    the one a full pass walks."""

    async def body() -> None:
        kept = [[i] for i in range(10_000)]  # long-lived, tracked objects
        ticking = asyncio.create_task(keep_collections_short(freeze_every_s=0.01))
        try:
            for _ in range(500):  # 5 s at most
                if gc.get_freeze_count() >= len(kept):
                    break
                await asyncio.sleep(0.01)
            assert gc.get_freeze_count() >= len(kept), "nothing frozen"
            walked = {id(o) for o in gc.get_objects(generation=2)}
            assert not any(id(k) in walked for k in kept)
        finally:
            ticking.cancel()
            gc.unfreeze()

    asyncio.run(body())

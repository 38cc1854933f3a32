"""Leader election on both backends: one leader, hand-over on resign and on a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from controlplane.store import Store
from controlplane.store.election import LeaderElection
from tests.store.conftest import Backend, StoreBody

Run = Callable[[StoreBody], None]


async def first_leader(*elections: LeaderElection, timeout_s: float = 5.0) -> LeaderElection:
    waits = {asyncio.ensure_future(e.wait_until_leader()): e for e in elections}
    done, pending = await asyncio.wait(
        waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
    )
    for future in pending:
        future.cancel()
    assert done, f"no leader within {timeout_s} s"
    return waits[next(iter(done))]


def test_one_leader_and_resign_hands_over_at_once(
    backend: Backend, run_store: Run, prefix: str
) -> None:
    ttl = backend.lease_ttl_s
    key = prefix + "leader"

    async def body(store: Store) -> None:
        a = LeaderElection(store, key, "a", ttl_s=ttl)
        b = LeaderElection(store, key, "b", ttl_s=ttl)
        async with a, b:
            leader = await first_leader(a, b)
            follower = b if leader is a else a
            await asyncio.sleep(1.5 * ttl)  # several keepalive rounds, no flapping
            assert (leader.is_leader, follower.is_leader) == (True, False)
            kv = await store.get(key)
            assert kv is not None and kv.value == leader.identity.encode()

            await leader.resign()
            assert not leader.is_leader
            await asyncio.wait_for(follower.wait_until_leader(), ttl / 2)
            kv = await store.get(key)
            assert kv is not None and kv.value == follower.identity.encode()
        assert await store.get(key) is None  # leaving `async with` resigned

    run_store(body)


def test_a_crashed_leader_is_replaced_within_the_ttl(
    backend: Backend, run_store: Run, prefix: str
) -> None:
    ttl = backend.lease_ttl_s
    key = prefix + "leader"

    async def body(store: Store) -> None:
        a = LeaderElection(store, key, "a", ttl_s=ttl)
        a_task = asyncio.create_task(a.run())
        await asyncio.wait_for(a.wait_until_leader(), 5)
        async with LeaderElection(store, key, "b", ttl_s=ttl) as b:
            await asyncio.sleep(ttl)
            assert a.is_leader and not b.is_leader

            a_task.cancel()  # a "crash": no resign, its lease is left to expire
            await asyncio.wait([a_task])
            assert not a.is_leader
            loop = asyncio.get_running_loop()
            crashed_at = loop.time()
            await asyncio.wait_for(b.wait_until_leader(), ttl + 3)
            # etcd checks for expired leases every 500 ms.
            assert loop.time() - crashed_at < ttl + 1.0
            kv = await store.get(key)
            assert kv is not None and kv.value == b"b"

    run_store(body)


def test_a_leader_whose_key_vanishes_steps_down_and_campaigns_again(
    backend: Backend, run_store: Run, prefix: str
) -> None:
    ttl = backend.lease_ttl_s
    key = prefix + "leader"

    async def body(store: Store) -> None:
        async with LeaderElection(store, key, "a", ttl_s=ttl) as a:
            await asyncio.wait_for(a.wait_until_leader(), 5)
            before = await store.get(key)
            assert before is not None
            await store.delete(key)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 3 * ttl
            while loop.time() < deadline:
                after = await store.get(key)
                if after is not None and after.lease != before.lease:
                    break
                await asyncio.sleep(ttl / 10)
            else:
                raise AssertionError("the leader did not campaign again")
            await asyncio.wait_for(a.wait_until_leader(), ttl)
            assert a.is_leader

    run_store(body)

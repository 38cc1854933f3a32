"""The Store contract, checked on every backend (SQLite and a real etcd).

Everything above controlplane.store relies on exactly these behaviours, so a
backend is done when it passes this file unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.store import (
    Compacted,
    Conflict,
    EventType,
    KeyEvent,
    KeyValue,
    LeaseNotFound,
    Store,
    StoreError,
)
from tests.store.conftest import Backend, StoreBody, run_body
from tests.support.waiting import take

Run = Callable[[StoreBody], None]


def summary(events: list[KeyEvent]) -> list[tuple[EventType, str, bytes, int]]:
    return [(e.type, e.kv.key, e.kv.value, e.kv.mod_revision) for e in events]


def test_put_get_delete(run_store: Run, prefix: str) -> None:
    key = prefix + "k"

    async def body(store: Store) -> None:
        assert await store.get(key) is None
        first = await store.put(key, b"v1")
        assert await store.get(key) == KeyValue(key, b"v1", first, first, 1)
        second = await store.put(key, b"v2")
        assert second > first
        assert await store.get(key) == KeyValue(key, b"v2", first, second, 2)
        deleted = await store.delete(key)
        assert deleted is not None and deleted > second
        assert await store.get(key) is None
        assert await store.delete(key) is None
        again = await store.put(key, b"v3")
        assert await store.get(key) == KeyValue(key, b"v3", again, again, 1)

    run_store(body)


def test_empty_key_is_refused(run_store: Run) -> None:
    async def body(store: Store) -> None:
        with pytest.raises(ValueError, match="empty"):
            await store.put("", b"x")

    run_store(body)


def test_list_is_sorted_and_a_slash_prefix_excludes_siblings(run_store: Run, prefix: str) -> None:
    async def body(store: Store) -> None:
        for key in ("a/b/2", "a/bc/1", "a/b/1", "a/b", "z"):
            await store.put(prefix + key, key.encode())
        items, revision = await store.list(prefix + "a/b/")
        assert [kv.key for kv in items] == [prefix + "a/b/1", prefix + "a/b/2"]
        assert [kv.value for kv in items] == [b"a/b/1", b"a/b/2"]
        assert revision == await store.revision()
        items, _ = await store.list(prefix + "a/b")  # a plain string prefix, as in etcd
        assert [kv.key for kv in items] == [prefix + k for k in ("a/b", "a/b/1", "a/b/2", "a/bc/1")]
        assert (await store.list(prefix + "nothing/"))[0] == []

    run_store(body)


def test_revisions_are_store_wide_and_increase(run_store: Run, prefix: str) -> None:
    async def body(store: Store) -> None:
        start = await store.revision()
        revisions = [
            await store.put(prefix + "a", b"1"),
            await store.put(prefix + "b", b"1"),
            await store.put(prefix + "a", b"2"),
        ]
        deleted = await store.delete(prefix + "b")
        assert deleted is not None
        revisions.append(deleted)
        assert sorted(revisions) == revisions
        assert len(set(revisions)) == 4 and revisions[0] > start
        assert await store.revision() == revisions[-1]
        assert (await store.list(prefix))[1] == revisions[-1]

    run_store(body)


def test_create_only(run_store: Run, prefix: str) -> None:
    key = prefix + "k"

    async def body(store: Store) -> None:
        created = await store.put(key, b"1", expect_mod_revision=0)
        with pytest.raises(Conflict) as caught:
            await store.put(key, b"2", expect_mod_revision=0)
        assert (caught.value.key, caught.value.expected_revision) == (key, 0)
        assert caught.value.actual_revision == created
        assert "absent" in str(caught.value) and str(created) in str(caught.value)
        assert (await store.get(key)) == KeyValue(key, b"1", created, created, 1)

    run_store(body)


def test_compare_and_swap_on_mod_revision(run_store: Run, prefix: str) -> None:
    key = prefix + "k"

    async def body(store: Store) -> None:
        first = await store.put(key, b"1")
        second = await store.put(key, b"2", expect_mod_revision=first)
        with pytest.raises(Conflict) as caught:
            await store.put(key, b"3", expect_mod_revision=first)
        assert (caught.value.expected_revision, caught.value.actual_revision) == (first, second)
        assert str(first) in str(caught.value) and str(second) in str(caught.value)
        assert (await store.get(key)) == KeyValue(key, b"2", first, second, 2)
        with pytest.raises(Conflict) as caught:
            await store.put(prefix + "absent", b"x", expect_mod_revision=second)
        assert caught.value.actual_revision == 0

    run_store(body)


def test_delete_with_expected_revision(run_store: Run, prefix: str) -> None:
    key = prefix + "k"

    async def body(store: Store) -> None:
        first = await store.put(key, b"1")
        second = await store.put(key, b"2")
        with pytest.raises(Conflict) as caught:
            await store.delete(key, expect_mod_revision=first)
        assert caught.value.actual_revision == second
        assert await store.get(key) is not None
        deleted = await store.delete(key, expect_mod_revision=second)
        assert deleted is not None and deleted > second
        with pytest.raises(Conflict) as caught:
            await store.delete(key, expect_mod_revision=second)
        assert caught.value.actual_revision == 0
        assert await store.delete(key, expect_mod_revision=0) is None

    run_store(body)


def test_watch_replays_history_then_streams_live(run_store: Run, prefix: str) -> None:
    async def body(store: Store) -> None:
        r1 = await store.put(prefix + "a", b"1")
        r2 = await store.put(prefix + "b", b"1")
        r3 = await store.delete(prefix + "a")
        assert r3 is not None
        async with contextlib.aclosing(store.watch(prefix, start_revision=r1)) as events:
            replayed = await take(events, 3)
            assert summary(replayed) == [
                (EventType.PUT, prefix + "a", b"1", r1),
                (EventType.PUT, prefix + "b", b"1", r2),
                (EventType.DELETE, prefix + "a", b"", r3),
            ]
            assert replayed[1].kv == KeyValue(prefix + "b", b"1", r2, r2, 1)
            r4 = await store.put(prefix + "b", b"2")
            [live] = await take(events, 1)
            assert live == KeyEvent(EventType.PUT, KeyValue(prefix + "b", b"2", r2, r4, 2))

    run_store(body)


def test_watch_from_a_later_revision_skips_earlier_changes(run_store: Run, prefix: str) -> None:
    async def body(store: Store) -> None:
        await store.put(prefix + "a", b"1")
        r2 = await store.put(prefix + "a", b"2")
        async with contextlib.aclosing(store.watch(prefix, start_revision=r2)) as events:
            assert summary(await take(events, 1)) == [(EventType.PUT, prefix + "a", b"2", r2)]

    run_store(body)


def test_watch_of_a_prefix_ignores_other_keys(run_store: Run, prefix: str) -> None:
    async def body(store: Store) -> None:
        start = await store.revision() + 1
        async with contextlib.aclosing(store.watch(prefix + "x/", start_revision=start)) as events:
            await store.put(prefix + "y/1", b"no")
            await store.put(prefix + "x1", b"no")  # a sibling of "x/", not under it
            wanted = await store.put(prefix + "x/1", b"yes")
            assert summary(await take(events, 1)) == [
                (EventType.PUT, prefix + "x/1", b"yes", wanted)
            ]

    run_store(body)


def test_watch_without_start_revision_sees_only_new_changes(run_store: Run, prefix: str) -> None:
    async def body(store: Store) -> None:
        await store.put(prefix + "old", b"1")
        async with contextlib.aclosing(store.watch(prefix)) as events:
            pending = asyncio.ensure_future(anext(events))
            # A watch is established asynchronously: write until it reports a write. The
            # first thing it reports must be one of those, never the older key.
            written = []
            while not pending.done():
                written.append(await store.put(prefix + "new", b"2"))
                await asyncio.wait({pending}, timeout=0.05)
            event = pending.result()
            assert event.kv.key == prefix + "new" and event.kv.mod_revision in written

    run_store(body)


def test_watch_from_a_compacted_revision_raises(
    backend: Backend, run_store: Run, prefix: str
) -> None:
    async def body(store: Store) -> None:
        old = await store.put(prefix + "a", b"1")
        await store.put(prefix + "a", b"2")
        await backend.compact(store)
        with pytest.raises(Compacted) as caught:
            async with contextlib.aclosing(store.watch(prefix, start_revision=old)) as events:
                await take(events, 1)
        assert caught.value.compact_revision > old
        # What the error says to do works: list again, and watch from there.
        _, revision = await store.list(prefix)
        async with contextlib.aclosing(store.watch(prefix, start_revision=revision + 1)) as events:
            new = await store.put(prefix + "a", b"3")
            assert summary(await take(events, 1)) == [(EventType.PUT, prefix + "a", b"3", new)]

    run_store(body)


def test_expired_lease_deletes_its_keys(backend: Backend, run_store: Run, prefix: str) -> None:
    ttl = backend.lease_ttl_s

    async def body(store: Store) -> None:
        lease = await store.grant_lease(ttl)
        put = await store.put(prefix + "k", b"v", lease=lease)
        assert (await store.get(prefix + "k")) == KeyValue(prefix + "k", b"v", put, put, 1, lease)
        async with contextlib.aclosing(store.watch(prefix, start_revision=put + 1)) as events:
            [event] = await take(events, 1, timeout_s=ttl + 3)
        assert event.type is EventType.DELETE and event.kv.key == prefix + "k"
        assert event.kv.value == b"" and event.kv.mod_revision > put
        assert await store.get(prefix + "k") is None
        with pytest.raises(LeaseNotFound):
            await store.keepalive(lease)
        with pytest.raises(LeaseNotFound):
            await store.put(prefix + "k", b"v", lease=lease)

    run_store(body)


def test_keepalive_keeps_keys_past_the_ttl(backend: Backend, run_store: Run, prefix: str) -> None:
    ttl = backend.lease_ttl_s

    async def body(store: Store) -> None:
        lease = await store.grant_lease(ttl)
        await store.put(prefix + "k", b"v", lease=lease)
        loop = asyncio.get_running_loop()
        until = loop.time() + 2.5 * ttl
        while loop.time() < until:
            await asyncio.sleep(ttl / 4)
            await store.keepalive(lease)
        assert (await store.get(prefix + "k")) is not None
        await store.revoke_lease(lease)

    run_store(body)


def test_revoke_deletes_keys_and_watchers_see_it(run_store: Run, prefix: str) -> None:
    async def body(store: Store) -> None:
        lease = await store.grant_lease(30)
        await store.put(prefix + "a", b"1", lease=lease)
        await store.put(prefix + "b", b"1", lease=lease)
        last = await store.put(prefix + "c", b"kept")
        async with contextlib.aclosing(store.watch(prefix, start_revision=last + 1)) as events:
            await store.revoke_lease(lease)
            deletes = await take(events, 2)
        assert {(e.type, e.kv.key) for e in deletes} == {
            (EventType.DELETE, prefix + "a"),
            (EventType.DELETE, prefix + "b"),
        }
        assert [kv.key for kv in (await store.list(prefix))[0]] == [prefix + "c"]
        with pytest.raises(LeaseNotFound):
            await store.revoke_lease(lease)
        with pytest.raises(LeaseNotFound):
            await store.keepalive(lease)

    run_store(body)


def test_a_put_without_lease_detaches_the_key(run_store: Run, prefix: str) -> None:
    async def body(store: Store) -> None:
        lease = await store.grant_lease(30)
        await store.put(prefix + "k", b"1", lease=lease)
        await store.put(prefix + "k", b"2")
        await store.revoke_lease(lease)
        kv = await store.get(prefix + "k")
        assert kv is not None and (kv.value, kv.lease) == (b"2", 0)

    run_store(body)


def test_reopening_keeps_everything(backend: Backend, prefix: str) -> None:
    state: dict[str, object] = {}

    async def write(store: Store) -> None:
        await store.put(prefix + "a", b"1")
        await store.put(prefix + "b", b"2")
        await store.delete(prefix + "a")
        state["list"] = await store.list(prefix)

    async def check(store: Store) -> None:
        items, revision = await store.list(prefix)
        assert (items, revision) == state["list"]
        assert await store.put(prefix + "c", b"3") > revision

    run_body(backend.open, write)
    run_body(backend.open, check)


def test_closed_store_refuses_calls_and_ends_watches(run_store: Run, prefix: str) -> None:
    async def body(store: Store) -> None:
        start = await store.put(prefix + "a", b"1")
        events = store.watch(prefix, start_revision=start)
        await take(events, 1)
        pending = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)  # the watch now waits for its next event
        await store.close()
        with pytest.raises(StoreError):
            await asyncio.wait_for(pending, 5)
        with pytest.raises(StoreError, match="closed"):
            await store.get(prefix + "a")

    run_store(body)


# -- a random sequence of writes matches a dict -------------------------------------------

KEYS = st.sampled_from(["a", "b", "c/d", "c/e"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, st.binary(max_size=4)),
        st.tuples(st.just("create"), KEYS, st.binary(max_size=4)),
        st.tuples(st.just("swap"), KEYS, st.binary(max_size=4), st.booleans()),
        st.tuples(st.just("delete"), KEYS),
        st.tuples(st.just("swap-delete"), KEYS, st.booleans()),
    ),
    max_size=12,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_random_writes_match_a_dict(backend: Backend, ops: list[tuple[object, ...]]) -> None:
    prefix = f"/model/{uuid.uuid4().hex[:12]}/"
    # key -> (value, create_revision, mod_revision, version)
    model: dict[str, tuple[bytes, int, int, int]] = {}

    async def body(store: Store) -> None:
        for op in ops:
            kind, name = op[0], op[1]
            assert isinstance(name, str)
            key = prefix + name
            current = model.get(key)
            actual = current[2] if current else 0
            if kind in ("put", "create", "swap"):
                value = op[2]
                assert isinstance(value, bytes)
                expect = {"put": None, "create": 0, "swap": actual if op[-1] else actual + 1}[kind]
                if expect is not None and expect != actual:
                    with pytest.raises(Conflict):
                        await store.put(key, value, expect_mod_revision=expect)
                    continue
                revision = await store.put(key, value, expect_mod_revision=expect)
                create, version = (current[1], current[3] + 1) if current else (revision, 1)
                model[key] = (value, create, revision, version)
            else:
                expect = None if kind == "delete" else actual if op[-1] else actual + 1
                if expect is not None and expect != actual:
                    with pytest.raises(Conflict):
                        await store.delete(key, expect_mod_revision=expect)
                    continue
                deleted = await store.delete(key, expect_mod_revision=expect)
                assert (deleted is None) == (current is None)
                model.pop(key, None)
        items, _ = await store.list(prefix)
        assert items == [
            KeyValue(key, *model[key]) for key in sorted(model, key=lambda k: k.encode())
        ]
        for key in (prefix + name for name in ("a", "b", "c/d", "c/e")):
            got = await store.get(key)
            assert (got.value if got else None) == (model[key][0] if key in model else None)

    run_body(backend.open, body)

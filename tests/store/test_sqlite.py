"""What only the SQLite backend has to prove: crash durability, one owner, bounded buffers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from controlplane.store import Compacted, Conflict, EventType, Store, StoreError
from controlplane.store import sqlite as sqlite_store
from controlplane.store.sqlite import SqliteStore
from tests.store.conftest import run_body
from tests.support.waiting import take

REPO = Path(__file__).resolve().parents[2]

CRASHING_WRITER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from controlplane.store.sqlite import SqliteStore

    async def main():
        store = SqliteStore(sys.argv[1])
        lease = await store.grant_lease(1.0)
        for i in range(20):
            await store.put(f"/k/{i:02}", b"v%d" % i)
        await store.delete("/k/00")
        await store.put("/leased", b"x", lease=lease)
        print(await store.revision(), lease, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


def test_writes_survive_a_killed_process_and_leases_get_a_fresh_ttl(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert child.returncode == -9, child.stderr
    revision, lease = map(int, child.stdout.split())
    time.sleep(1.2)  # longer than the lease's TTL: only the restart keeps it

    async def body(store: Store) -> None:
        items, now = await store.list("/k/")
        assert now == revision
        assert [kv.key for kv in items] == [f"/k/{i:02}" for i in range(1, 20)]
        assert items[-1].value == b"v19"
        leased = await store.get("/leased")
        assert leased is not None and leased.lease == lease
        async with contextlib.aclosing(store.watch("/leased", start_revision=now + 1)) as events:
            [event] = await take(events, 1, timeout_s=3)
        assert event.type is EventType.DELETE and event.kv.mod_revision == now + 1
        assert await store.put("/k/new", b"x") == now + 2

    run_body(lambda: SqliteStore(path), body)


def test_only_one_store_may_open_a_file(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = SqliteStore(path)
    try:
        with pytest.raises(StoreError, match="in use"):
            SqliteStore(path)
    finally:
        asyncio.run(first.close())
    asyncio.run(SqliteStore(path).close())  # free again once closed


def test_an_unopenable_path_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no-such-dir"):
        SqliteStore(tmp_path / "no-such-dir" / "store.db")


async def _history_holds_only(store: Store, revisions: list[int]) -> None:
    """A watch from before `revisions` is compacted; from their first, it replays them."""
    floor = revisions[0]
    with pytest.raises(Compacted) as caught:
        await anext(store.watch("/k/", start_revision=floor - 1))
    assert caught.value.compact_revision == floor
    async with contextlib.aclosing(store.watch("/k/", start_revision=floor)) as events:
        replayed = await take(events, len(revisions))
    assert [e.kv.mod_revision for e in replayed] == revisions


def test_history_is_trimmed_to_its_size(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        revisions = [await store.put(f"/k/{i}", b"x") for i in range(10)]
        await _history_holds_only(store, revisions[-5:])

    run_body(lambda: SqliteStore(tmp_path / "store.db", history_size=5), body)


def test_a_group_commit_trims_the_history_once_to_its_size(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        await store.put("/k/first", b"x")
        revisions = sorted(await asyncio.gather(*(store.put(f"/k/{i}", b"x") for i in range(10))))
        assert revisions == list(range(revisions[0], revisions[0] + 10))  # one after another
        assert await store.revision() == revisions[-1]
        await _history_holds_only(store, revisions[-5:])

    run_body(lambda: SqliteStore(tmp_path / "store.db", history_size=5), body)


def test_a_slow_watcher_catches_up_from_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "WATCH_BUFFER", 4)
    monkeypatch.setattr(sqlite_store, "REPLAY_BATCH", 7)

    async def body(store: Store) -> None:
        start = await store.revision() + 1
        async with contextlib.aclosing(store.watch("/k/", start_revision=start)) as events:
            first = await store.put("/k/00", b"x")
            assert [e.kv.mod_revision for e in await take(events, 1)] == [first]
            # The watcher is live but not reading: its queue overflows after 4 events.
            revisions = [await store.put(f"/k/{i:02}", b"x") for i in range(1, 40)]
            rest = await take(events, len(revisions))
        assert [e.kv.mod_revision for e in rest] == revisions

    run_body(lambda: SqliteStore(tmp_path / "store.db"), body)


def test_concurrent_puts_commit_together_and_fail_alone(tmp_path: Path) -> None:
    """A join storm's writes share commits; a failed compare fails only its own put."""

    async def body(store: Store) -> None:
        taken = await store.put("/k/taken", b"first")
        start = await store.revision() + 1
        async with contextlib.aclosing(store.watch("/k/", start_revision=start)) as events:
            outcomes = await asyncio.gather(
                *(store.put(f"/k/{i:03}", b"x", expect_mod_revision=0) for i in range(200)),
                store.put("/k/taken", b"second", expect_mod_revision=0),
                return_exceptions=True,
            )
            seen = await take(events, 200)
        *revisions, refused = outcomes
        assert isinstance(refused, Conflict) and refused.actual_revision == taken
        assert sorted(r for r in revisions if isinstance(r, int)) == list(range(start, start + 200))
        assert [e.kv.mod_revision for e in seen] == list(range(start, start + 200))
        stored = await store.get("/k/taken")
        assert stored is not None and stored.value == b"first"

    run_body(lambda: SqliteStore(tmp_path / "store.db"), body)

"""The embedded store: etcd's data model in one SQLite file, for one machine.

The default backend, so that tokenplane runs with no server to operate, the
way k3s runs Kubernetes on kine. It keeps etcd's semantics (see base.py):

- a `kv` table with each key's create/mod revision, version and lease, and a
  store-wide revision in `meta`, bumped by one for every change;
- an `events` table, the history that `watch(start_revision=...)` replays,
  trimmed to the last `history_size` revisions; older starts raise Compacted.
  Every change gets its own revision, even when one lease expiry deletes
  several keys (etcd gives them one); callers must not rely on either;
- live events fan out in process: each watcher has a bounded queue, and one
  that falls behind reads the rest from `events` instead, so a slow watcher
  costs no memory and loses nothing unless the history is trimmed past it.

All SQLite work runs on one dedicated worker thread: the event loop never
blocks on disk, writes are serialised in one place, and the worker publishes
each commit's events in commit order. The connection holds an exclusive lock
on the file, so a second process (or a second store in this one) fails at
open instead of writing changes this process' watchers would never see.

Durability: WAL with synchronous=FULL, so a write is on disk before put()
returns and survives a crash of the process or the machine. Puts that arrive
while the worker is busy are committed together, one transaction and one
fsync for the lot (group commit, as databases do for their log): a join storm
of 10,000 nodes costs a few hundred commits, not 10,000. Each put still gets
its own revision, its own result and its own failure (a failed compare or a
dead lease fails only that put).

Leases: their IDs and TTLs are in the file, their deadlines only in memory
(keepalives cost no disk write). On open every lease gets a full TTL again,
as etcd does when a new leader takes over, so clients have time to come back
after the control plane restarts. A sweeper task on the loop revokes expired
leases, which deletes their keys and so produces DELETE events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from controlplane.store.base import (
    Compacted,
    Conflict,
    EventType,
    KeyEvent,
    KeyValue,
    LeaseNotFound,
    StoreError,
    check_revision,
    encode_key,
    prefix_end,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 1
DEFAULT_HISTORY_SIZE = 10_000
WATCH_BUFFER = 1_000  # live events queued per watcher before it falls back to history
REPLAY_BATCH = 500  # history rows read per worker call
SWEEP_RETRY_S = 1.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 1), ('compact_revision', 1)",
    """CREATE TABLE IF NOT EXISTS kv (
        key BLOB PRIMARY KEY,
        value BLOB NOT NULL,
        create_revision INTEGER NOT NULL,
        mod_revision INTEGER NOT NULL,
        version INTEGER NOT NULL,
        lease INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS kv_by_lease ON kv (lease) WHERE lease != 0",
    """CREATE TABLE IF NOT EXISTS events (
        revision INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        key BLOB NOT NULL,
        value BLOB NOT NULL,
        create_revision INTEGER NOT NULL,
        version INTEGER NOT NULL,
        lease INTEGER NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY AUTOINCREMENT, ttl REAL NOT NULL)",
)

_KV_COLUMNS = "key, value, create_revision, mod_revision, version, lease"


@dataclass(slots=True)
class _Lease:
    ttl_s: float
    deadline: float  # time.monotonic()


@dataclass(slots=True)
class _PendingPut:
    key: bytes
    value: bytes
    expected: int | None
    lease: int
    done: asyncio.Future[int]


class _Subscriber:
    """One watcher's live feed: a bounded queue, and a flag set when it overflowed."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queue: asyncio.Queue[KeyEvent | None] = asyncio.Queue(maxsize=WATCH_BUFFER)
        self.overflowed = False

    def offer(self, item: KeyEvent | None) -> None:
        """Queue an event (None: the store closed); on overflow, stop queueing."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True


def _kv(row: tuple[Any, ...]) -> KeyValue:
    key, value, create_revision, mod_revision, version, lease = row
    return KeyValue(key.decode(), bytes(value), create_revision, mod_revision, version, lease)


def _prefix_clause(prefix: bytes) -> tuple[str, tuple[bytes, ...]]:
    if not prefix:
        return "1", ()
    return "key >= ? AND key < ?", (prefix, prefix_end(prefix))


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _connect(path: Path) -> sqlite3.Connection:
    """Open the file, take its lock, and create or check the schema."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=1.0)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open SQLite store {path}: {e}") from e
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        with _transaction(conn):
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise StoreError(
                    f"{path} has schema version {found}; this tokenplane knows up to "
                    f"{SCHEMA_VERSION}: upgrade tokenplane"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except sqlite3.OperationalError as e:
        conn.close()
        if "locked" in str(e):
            raise StoreError(
                f"SQLite store {path} is in use by another process or store; "
                "only one may open it (use etcd to run several control-plane replicas)"
            ) from e
        raise StoreError(f"cannot open SQLite store {path}: {e}") from e
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteStore:
    """The Store protocol on one SQLite file (see the module docstring)."""

    def __init__(
        self, path: str | os.PathLike[str], *, history_size: int = DEFAULT_HISTORY_SIZE
    ) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be >= 1, got {history_size}")
        self.path = Path(path)
        self._history_size = history_size
        self._conn = _connect(self.path)
        now = time.monotonic()
        self._leases = {
            lease_id: _Lease(ttl, now + ttl)
            for lease_id, ttl in self._conn.execute("SELECT id, ttl FROM leases")
        }
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._lease_granted = asyncio.Event()
        self._subscribers: set[_Subscriber] = set()
        self._pending_puts: list[_PendingPut] = []  # appended on the loop, taken by the worker
        self._pending_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- plumbing: the loop, the worker thread and the fan-out -----------------------------

    def _bind(self) -> asyncio.AbstractEventLoop:
        """Check the store is usable from this loop; start the sweeper on first use."""
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._sweeper = loop.create_task(self._sweep_forever(), name=f"sweep {self.path}")
        elif loop is not self._loop:
            raise StoreError(f"{self!r} is used from a second event loop; use one store per loop")
        return loop

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the worker thread."""
        loop = self._bind()
        return await loop.run_in_executor(self._executor, self._call, fn, args)

    async def _write(self, fn: Callable[..., tuple[T, list[KeyEvent]]], *args: Any) -> T:
        """Run a write on the worker; it publishes the events, in commit order."""
        loop = self._bind()
        return await loop.run_in_executor(self._executor, self._call_write, loop, fn, args)

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(*args)
        except sqlite3.Error as e:
            raise StoreError(f"SQLite store {self.path}: {e}") from e

    def _call_write(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., tuple[T, list[KeyEvent]]],
        args: tuple[Any, ...],
    ) -> T:
        result, events = self._call(fn, args)
        if events:
            loop.call_soon_threadsafe(self._publish, events)
        return result

    def _publish(self, events: list[KeyEvent]) -> None:
        for sub in self._subscribers:
            for event in events:
                if event.kv.key.startswith(sub.prefix):
                    sub.offer(event)

    # -- worker-thread functions: the only code that touches the connection ---------------

    def _meta(self, name: str) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def _revision(self) -> int:
        return self._meta("revision")

    def _next_revision(self) -> int:
        row = self._conn.execute(
            "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value"
        ).fetchone()
        return int(row[0])

    def _record(self, event: KeyEvent) -> None:
        """Append to the history (the transaction trims it once, with `_trim_history`)."""
        kv = event.kv
        self._conn.execute(
            "INSERT INTO events (revision, type, key, value, create_revision, version, lease)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                kv.mod_revision,
                event.type.value,
                kv.key.encode(),
                kv.value,
                kv.create_revision,
                kv.version,
                kv.lease,
            ),
        )

    def _trim_history(self, revision: int) -> None:
        """Keep the last history_size revisions: once a transaction, not once a write."""
        floor = revision - self._history_size + 1
        if floor > 1:
            self._conn.execute("DELETE FROM events WHERE revision < ?", (floor,))
            self._conn.execute(
                "UPDATE meta SET value = MAX(value, ?) WHERE name = 'compact_revision'", (floor,)
            )

    def _delete_locked(self, key: bytes) -> KeyEvent:
        revision = self._next_revision()
        self._conn.execute("DELETE FROM kv WHERE key = ?", (key,))
        event = KeyEvent(EventType.DELETE, KeyValue(key.decode(), b"", 0, revision, 0, 0))
        self._record(event)
        return event

    def _check_expected(self, key: bytes, expected: int | None) -> tuple[int, int, int] | None:
        """The key's (create_revision, mod_revision, version), after checking `expected`."""
        row: tuple[int, int, int] | None = self._conn.execute(
            "SELECT create_revision, mod_revision, version FROM kv WHERE key = ?", (key,)
        ).fetchone()
        actual = row[1] if row else 0
        if expected is not None and expected != actual:
            raise Conflict(key.decode(), expected, actual)
        return row

    def _get(self, key: bytes) -> KeyValue | None:
        row = self._conn.execute(f"SELECT {_KV_COLUMNS} FROM kv WHERE key = ?", (key,)).fetchone()
        return _kv(row) if row else None

    def _list(self, prefix: bytes) -> tuple[list[KeyValue], int]:
        where, params = _prefix_clause(prefix)
        rows = self._conn.execute(
            f"SELECT {_KV_COLUMNS} FROM kv WHERE {where} ORDER BY key", params
        ).fetchall()
        return [_kv(row) for row in rows], self._revision()

    def _put_locked(self, put: _PendingPut, revision: int) -> KeyEvent:
        """One put at `revision` inside the caller's transaction, which stores the revision;
        checks fail before anything is written."""
        row = self._check_expected(put.key, put.expected)
        if put.lease and not self._lease_alive(put.lease):
            raise LeaseNotFound(f"lease {put.lease} not found (expired or revoked)")
        create_revision, version = (row[0], row[2] + 1) if row else (revision, 1)
        self._conn.execute(
            f"INSERT OR REPLACE INTO kv ({_KV_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (put.key, put.value, create_revision, revision, version, put.lease),
        )
        kv = KeyValue(put.key.decode(), put.value, create_revision, revision, version, put.lease)
        event = KeyEvent(EventType.PUT, kv)
        self._record(event)
        return event

    def _put_batch(self, batch: list[_PendingPut]) -> tuple[list[int | Exception], list[KeyEvent]]:
        outcomes: list[int | Exception] = []
        events: list[KeyEvent] = []
        with _transaction(self._conn):
            revision = self._revision()
            for put in batch:
                try:
                    event = self._put_locked(put, revision + 1)
                except (Conflict, LeaseNotFound) as e:
                    outcomes.append(e)
                else:
                    revision += 1
                    outcomes.append(revision)
                    events.append(event)
            if events:
                self._conn.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (revision,))
                self._trim_history(revision)
        return outcomes, events

    def _flush_puts(self, loop: asyncio.AbstractEventLoop) -> None:
        """Commit every put waiting now in one transaction; settle them on the loop."""
        with self._pending_lock:
            batch, self._pending_puts = self._pending_puts, []
        outcomes: list[int | Exception]
        try:
            outcomes, events = self._call(self._put_batch, (batch,))
        except StoreError as e:
            outcomes, events = [e] * len(batch), []
        loop.call_soon_threadsafe(self._settle_puts, batch, outcomes, events)

    def _settle_puts(
        self, batch: list[_PendingPut], outcomes: list[int | Exception], events: list[KeyEvent]
    ) -> None:
        self._publish(events)  # before any put returns, as for every other write
        for put, outcome in zip(batch, outcomes, strict=True):
            if put.done.done():  # its caller was cancelled; the write stands
                continue
            if isinstance(outcome, Exception):
                put.done.set_exception(outcome)
            else:
                put.done.set_result(outcome)

    def _delete(self, key: bytes, expected: int | None) -> tuple[int | None, list[KeyEvent]]:
        with _transaction(self._conn):
            if self._check_expected(key, expected) is None:
                return None, []
            event = self._delete_locked(key)
            self._trim_history(event.kv.mod_revision)
        return event.kv.mod_revision, [event]

    def _history(self, prefix: bytes, start: int) -> list[KeyEvent]:
        """Up to REPLAY_BATCH events under `prefix` from revision `start`."""
        compact = self._meta("compact_revision")
        if start < compact:
            raise Compacted(compact)
        where, params = _prefix_clause(prefix)
        rows = self._conn.execute(
            "SELECT type, key, value, create_revision, revision, version, lease FROM events"
            f" WHERE revision >= ? AND {where} ORDER BY revision LIMIT ?",
            (start, *params, REPLAY_BATCH),
        ).fetchall()
        return [KeyEvent(EventType(row[0]), _kv(row[1:])) for row in rows]

    def _lease_alive(self, lease_id: int) -> bool:
        lease = self._leases.get(lease_id)
        return lease is not None and lease.deadline > time.monotonic()

    def _grant(self, ttl_s: float) -> int:
        lease_id = self._conn.execute("INSERT INTO leases (ttl) VALUES (?)", (ttl_s,)).lastrowid
        assert lease_id is not None
        self._leases[lease_id] = _Lease(ttl_s, time.monotonic() + ttl_s)
        return lease_id

    def _keepalive(self, lease_id: int) -> None:
        if not self._lease_alive(lease_id):
            raise LeaseNotFound(f"lease {lease_id} not found (expired or revoked)")
        lease = self._leases[lease_id]
        lease.deadline = time.monotonic() + lease.ttl_s

    def _revoke_locked(self, lease_id: int) -> list[KeyEvent]:
        self._conn.execute("DELETE FROM leases WHERE id = ?", (lease_id,))
        keys = [
            row[0]
            for row in self._conn.execute(
                "SELECT key FROM kv WHERE lease = ? ORDER BY key", (lease_id,)
            )
        ]
        events = [self._delete_locked(key) for key in keys]
        if events:
            self._trim_history(events[-1].kv.mod_revision)
        return events

    def _revoke(self, lease_id: int) -> tuple[None, list[KeyEvent]]:
        if lease_id not in self._leases:
            raise LeaseNotFound(f"lease {lease_id} not found (expired or revoked)")
        with _transaction(self._conn):
            events = self._revoke_locked(lease_id)
        del self._leases[lease_id]
        return None, events

    def _sweep(self) -> tuple[float | None, list[KeyEvent]]:
        """Revoke expired leases; seconds until the next deadline (None: no leases)."""
        now = time.monotonic()
        expired = [lease_id for lease_id, lease in self._leases.items() if lease.deadline <= now]
        events: list[KeyEvent] = []
        if expired:
            with _transaction(self._conn):
                for lease_id in expired:
                    events.extend(self._revoke_locked(lease_id))
            for lease_id in expired:
                del self._leases[lease_id]
            log.info("leases expired: %s (%d keys deleted)", expired, len(events))
        deadlines = [lease.deadline for lease in self._leases.values()]
        return (max(0.0, min(deadlines) - now) if deadlines else None), events

    # -- the Store protocol ---------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        return await self._run(self._get, encode_key(key))

    async def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        return await self._run(self._list, prefix.encode())

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expect_mod_revision: int | None = None,
        lease: int = 0,
    ) -> int:
        check_revision("expect_mod_revision", expect_mod_revision)
        loop = self._bind()
        put = _PendingPut(
            encode_key(key), bytes(value), expect_mod_revision, lease, loop.create_future()
        )
        with self._pending_lock:
            self._pending_puts.append(put)
            first = len(self._pending_puts) == 1
        if first:  # else a flush is already queued on the worker and will take this one
            self._executor.submit(self._flush_puts, loop)
        return await put.done

    async def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int | None:
        check_revision("expect_mod_revision", expect_mod_revision)
        return await self._write(self._delete, encode_key(key), expect_mod_revision)

    async def watch(
        self, prefix: str, *, start_revision: int | None = None
    ) -> AsyncGenerator[KeyEvent, None]:
        check_revision("start_revision", start_revision, minimum=1)
        self._bind()
        sub = _Subscriber(prefix)
        self._subscribers.add(sub)
        try:
            # Subscribe first, then read: anything committed meanwhile arrives
            # both ways, and `last` drops the copy.
            if start_revision is None:
                last = await self._run(self._revision)
                catch_up = False
            else:
                last = start_revision - 1
                catch_up = True
            while True:
                if catch_up or (sub.overflowed and sub.queue.empty()):
                    sub.overflowed = False
                    batch = await self._run(self._history, prefix.encode(), last + 1)
                    for event in batch:
                        last = event.kv.mod_revision
                        yield event
                    catch_up = len(batch) == REPLAY_BATCH
                    continue
                item = await sub.queue.get()
                if item is None:
                    raise StoreError(f"{self!r} closed while watching {prefix!r}")
                if item.kv.mod_revision > last:
                    last = item.kv.mod_revision
                    yield item
        finally:
            self._subscribers.discard(sub)

    async def grant_lease(self, ttl_s: float) -> int:
        if not ttl_s > 0:
            raise ValueError(f"lease TTL must be > 0 seconds, got {ttl_s}")
        lease_id = await self._run(self._grant, float(ttl_s))
        self._lease_granted.set()  # the sweeper may need to wake sooner
        return lease_id

    async def keepalive(self, lease_id: int) -> None:
        await self._run(self._keepalive, lease_id)

    async def revoke_lease(self, lease_id: int) -> None:
        await self._write(self._revoke, lease_id)

    async def revision(self) -> int:
        return await self._run(self._revision)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for sub in self._subscribers:
            sub.offer(None)
        if self._loop is not None:
            await self._loop.run_in_executor(self._executor, self._conn.close)
        else:
            self._conn.close()
        self._executor.shutdown(wait=False)

    async def _sweep_forever(self) -> None:
        """Revoke leases as they expire; sleeps until the next deadline or a new lease."""
        assert self._loop is not None
        while True:
            self._lease_granted.clear()
            try:
                delay = await self._loop.run_in_executor(
                    self._executor, self._call_write, self._loop, self._sweep, ()
                )
            except StoreError:
                log.exception("lease sweep failed; retrying in %s s", SWEEP_RETRY_S)
                delay = SWEEP_RETRY_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lease_granted.wait(), delay)

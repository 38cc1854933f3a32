"""Fixtures for the store tests: a real etcd per session, and the backend parameter.

`backend` runs a test once on SQLite (a file in tmp_path) and once on etcd;
the test does not know which, apart from what `Backend` offers (opening a
store, a lease TTL the backend honours, forcing a compaction). Tests isolate
themselves with `prefix`, so they can share one etcd.

No pytest-asyncio: `run_store(body)` runs an async test body under
`asyncio.run` with a fresh store, closed afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc.aio
import pytest
from aetcd import rpc

from controlplane.store import Store, open_store
from controlplane.store.sqlite import SqliteStore
from tests.support.etcd import EtcdServer, running_etcd

SQLITE_HISTORY = 50
BODY_TIMEOUT_S = 30.0

StoreBody = Callable[[Store], Awaitable[None]]


class Backend:
    """What the conformance suite may know about a backend."""

    name: str
    lease_ttl_s: float  # the shortest TTL the backend honours as given

    def open(self) -> Store:
        """A new store client on the same data."""
        raise NotImplementedError

    async def compact(self, store: Store) -> None:
        """Make every revision up to the current one too old to watch from."""
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"
    lease_ttl_s = 0.5

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> Store:
        return SqliteStore(self.path, history_size=SQLITE_HISTORY)

    async def compact(self, store: Store) -> None:
        # The store trims its history as it writes: push the old revisions out.
        for i in range(SQLITE_HISTORY):
            await store.put(f"/compaction-filler/{i % 3}", b"x")


class EtcdBackend(Backend):
    name = "etcd"
    lease_ttl_s = 1.0  # etcd's minimum with the test server's election timeout

    def __init__(self, server: EtcdServer) -> None:
        self.server = server

    def open(self) -> Store:
        return open_store(self.server.url)

    async def compact(self, store: Store) -> None:
        revision = await store.revision()
        async with grpc.aio.insecure_channel(self.server.endpoint) as channel:
            await rpc.KVStub(channel).Compact(
                rpc.CompactionRequest(revision=revision, physical=True)
            )


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """One etcd for the session; tests must not stop it (use `own_etcd`)."""
    with running_etcd(tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture
def own_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    """An etcd for this test alone, which it may stop and restart."""
    with running_etcd(tmp_path / "etcd") as server:
        yield server


@pytest.fixture(params=["sqlite", "etcd"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "store.db")
    return EtcdBackend(request.getfixturevalue("etcd"))


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"/test/{uuid.uuid4().hex[:12]}/"


def run_body(open_store_: Callable[[], Store], body: StoreBody) -> None:
    """Run `body(store)` on a new loop with a fresh store, closing it after."""

    async def main() -> None:
        store = open_store_()
        try:
            await asyncio.wait_for(body(store), BODY_TIMEOUT_S)
        finally:
            await store.close()

    asyncio.run(main())


@pytest.fixture
def run_store(backend: Backend) -> Callable[[StoreBody], None]:
    """`run_store(body)`: run an async test body against the backend."""
    return lambda body: run_body(backend.open, body)

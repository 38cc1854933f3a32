"""What only the etcd backend has to prove: restarts, outages, failover and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.store import EtcdTLS, Store, StoreError, StoreUnavailable, TooLarge, open_store
from controlplane.store import etcd as etcd_store
from tests.store.conftest import run_body
from tests.support.etcd import EtcdServer, free_port, make_pki, running_etcd
from tests.support.waiting import take


async def until_available(store: Store, key: str, timeout_s: float = 10.0) -> None:
    """Retry get() until the store answers; the client's channel reconnects by itself."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await store.get(key)
            return
        except StoreUnavailable:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


def test_data_survives_an_etcd_crash_and_clients_reconnect(own_etcd: EtcdServer) -> None:
    async def body(store: Store) -> None:
        written = await store.put("/k", b"before")
        own_etcd.restart(crash=True)  # SIGKILL, then start on the same data dir
        await until_available(store, "/k")
        kv = await store.get("/k")
        assert kv is not None and (kv.value, kv.mod_revision) == (b"before", written)
        assert await store.put("/k", b"after") > written

        fresh = open_store(own_etcd.url)
        try:
            kv = await fresh.get("/k")
            assert kv is not None and kv.value == b"after"
        finally:
            await fresh.close()

    run_body(lambda: open_store(own_etcd.url), body)


def test_calls_raise_store_unavailable_naming_the_endpoint_when_etcd_is_down(
    own_etcd: EtcdServer,
) -> None:
    async def body(store: Store) -> None:
        start = await store.put("/k", b"v")
        watch = store.watch("/", start_revision=start)
        await take(watch, 1)
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.1)
        own_etcd.stop()
        with pytest.raises(StoreUnavailable, match=re.escape(own_etcd.endpoint)):
            await asyncio.wait_for(pending, 10)  # an open watch ends, it does not hang
        with pytest.raises(StoreUnavailable, match=re.escape(own_etcd.endpoint)):
            await store.get("/k")
        with pytest.raises(StoreUnavailable, match=re.escape(own_etcd.endpoint)):
            await store.put("/k", b"w")
        with pytest.raises(StoreUnavailable):
            await store.grant_lease(5)
        with pytest.raises(StoreUnavailable):
            await anext(store.watch("/"))

    run_body(lambda: open_store(own_etcd.url), body)


def test_a_client_with_nothing_to_connect_to_fails_fast() -> None:
    endpoint = f"127.0.0.1:{free_port()}"

    async def body(store: Store) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(StoreUnavailable, match=re.escape(endpoint)):
            await store.revision()
        assert loop.time() - started < 3

    run_body(lambda: open_store(f"etcd://{endpoint}"), body)


def test_calls_fail_over_to_the_next_endpoint(etcd: EtcdServer, prefix: str) -> None:
    dead = f"127.0.0.1:{free_port()}"

    async def body(store: Store) -> None:
        revision = await store.put(prefix + "k", b"v")
        kv = await store.get(prefix + "k")
        assert kv is not None and kv.mod_revision == revision
        lease = await store.grant_lease(5)
        await store.keepalive(lease)
        await store.revoke_lease(lease)

    run_body(lambda: open_store(f"etcd://{dead},{etcd.endpoint}"), body)


@pytest.fixture(scope="module")
def tls_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    base = tmp_path_factory.mktemp("etcd-tls")
    pki = make_pki(base / "pki")
    with running_etcd(base, tls=pki) as server:
        yield server


def test_mutual_tls(tls_etcd: EtcdServer) -> None:
    pki = tls_etcd.tls
    assert pki is not None
    tls = EtcdTLS(str(pki.ca_file), str(pki.client_cert), str(pki.client_key))

    async def body(store: Store) -> None:
        revision = await store.put("/tls/k", b"secret")
        async with contextlib.aclosing(store.watch("/tls/", start_revision=revision)) as events:
            [event] = await take(events, 1)
        assert event.kv.value == b"secret"

    run_body(lambda: open_store(tls_etcd.url, tls=tls), body)

    async def refused(store: Store) -> None:
        with pytest.raises(StoreError):
            await store.get("/tls/k")

    no_client_cert = EtcdTLS(str(pki.ca_file))
    run_body(lambda: open_store(tls_etcd.url, tls=no_client_cert), refused)
    run_body(lambda: open_store(f"etcd://{tls_etcd.endpoint}"), refused)


def test_missing_tls_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    with pytest.raises(ValueError, match=re.escape(str(missing))):
        open_store("etcds://127.0.0.1:2379", tls=EtcdTLS(str(missing)))


def test_list_pages_through_large_prefixes(
    etcd: EtcdServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(etcd_store, "LIST_PAGE", 3)

    async def body(store: Store) -> None:
        keys = [f"{prefix}{i:02}" for i in range(10)]
        revisions = await asyncio.gather(*(store.put(key, b"x") for key in keys))
        items, revision = await store.list(prefix)
        assert [kv.key for kv in items] == keys
        assert revision == max(revisions)

    run_body(lambda: open_store(etcd.url), body)


def test_a_write_over_etcds_request_limit_is_too_large_not_a_plain_store_error(
    etcd: EtcdServer, prefix: str
) -> None:
    """etcd refuses requests over --max-request-bytes (1.5 MiB by default); the API
    answers that RESOURCE_EXHAUSTED naming the object, so the store says which it is."""

    async def body(store: Store) -> None:
        with pytest.raises(TooLarge, match="request is too large"):
            await store.put(prefix + "big", b"x" * (1600 * 1024))
        with pytest.raises(TooLarge, match="request is too large"):
            await store.put(prefix + "big", b"x" * (1600 * 1024), expect_mod_revision=0)
        with pytest.raises(TooLarge):  # beyond etcd's gRPC message limit too
            await store.put(prefix + "big", b"x" * (3 * 1024 * 1024))
        assert await store.get(prefix + "big") is None

    run_body(lambda: open_store(etcd.url), body)

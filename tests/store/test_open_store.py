"""open_store: which URLs it accepts, and that a bad one says what is wrong."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.store import EtcdTLS, open_store
from controlplane.store.etcd import EtcdStore
from controlplane.store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[2]


def test_sqlite_absolute_and_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absolute = open_store(f"sqlite://{tmp_path}/a.db")
    assert isinstance(absolute, SqliteStore) and absolute.path == tmp_path / "a.db"
    asyncio.run(absolute.close())
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite://b.db")
    assert isinstance(relative, SqliteStore) and relative.path == Path("b.db")
    asyncio.run(relative.close())
    assert (tmp_path / "b.db").exists()


def test_etcd_endpoints() -> None:
    store = open_store("etcd://127.0.0.1:2379,localhost:2380,[::1]:2381/")
    assert isinstance(store, EtcdStore)
    assert store.endpoints == ("127.0.0.1:2379", "localhost:2380", "[::1]:2381")
    remote = open_store("etcd://10.0.0.5:2379,etcd-1.svc:2379", allow_insecure=True)
    assert isinstance(remote, EtcdStore)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/var/lib/tokenplane.db", "no scheme"),
        ("http://127.0.0.1:2379", "unknown store URL scheme 'http'"),
        ("sqlite://", "no file path"),
        ("sqlite:///", "no file path"),
        ("sqlite:///x.db?mode=ro", "no query"),
        ("etcd://", "empty endpoint"),
        ("etcd://127.0.0.1:2379,", "empty endpoint"),
        ("etcd://127.0.0.1", "'127.0.0.1' is not host:port"),
        ("etcd://127.0.0.1:0", "port 1-65535"),
        ("etcd://127.0.0.1:70000", "port 1-65535"),
        ("etcd://:2379", "':2379' is not host:port"),
        ("etcd://::1:2379", r"\[addr\]:port"),
        ("etcd://[::1:2379", "closing"),
        ("etcd://127.0.0.1:2379/v3", "no path"),
        ("etcd://10.0.0.5:2379", "refusing plaintext etcd to non-loopback 10.0.0.5:2379"),
        ("etcd://localhost:2379,etcd.example:2379", "non-loopback etcd.example:2379"),
        ("etcds://127.0.0.1:2379", "needs tls="),
    ],
)
def test_malformed_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_credentials_in_a_url_are_refused_and_not_echoed() -> None:
    with pytest.raises(ValueError, match="credentials") as caught:
        open_store("etcd://root:hunter2@127.0.0.1:2379")
    assert "hunter2" not in str(caught.value)


def test_tls_options_are_checked() -> None:
    with pytest.raises(ValueError, match="both cert_file and key_file"):
        EtcdTLS("ca.pem", cert_file="client.pem")
    with pytest.raises(ValueError, match="etcd stores only"):
        open_store("sqlite:///tmp/x.db", tls=EtcdTLS("ca.pem"))


def test_the_sqlite_backend_does_not_load_grpc(tmp_path: Path) -> None:
    script = (
        "import sys, asyncio\n"
        "from controlplane.store import open_store\n"
        f"asyncio.run(open_store('sqlite://{tmp_path}/x.db').close())\n"
        "assert 'grpc' not in sys.modules, 'grpc was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=60)

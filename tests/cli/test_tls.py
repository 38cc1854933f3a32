"""Contexts with TLS files against a server that requires mutual TLS, and errors without."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Tpctl, user_env
from tests.support.etcd import EtcdPKI, make_pki
from tests.support.processes import ServerProcess


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> EtcdPKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, pki: EtcdPKI) -> Iterator[str]:
    server = ServerProcess(
        tmp_path_factory.mktemp("mtls") / "state",
        "--tls-cert-file",
        str(pki.server_cert),
        "--tls-key-file",
        str(pki.server_key),
        "--tls-client-ca-file",
        str(pki.ca_file),
    )
    yield server.address
    server.stop()


def test_mutual_tls_context(tmp_path: Path, pki: EtcdPKI, mtls_server: str) -> None:
    tpctl = Tpctl(user_env(tmp_path, tmp_path / "config.yaml"))
    tpctl.ok(
        "config",
        "set-context",
        "tls",
        "--server",
        mtls_server,
        "--ca-file",
        str(pki.ca_file),
        "--cert-file",
        str(pki.client_cert),
        "--key-file",
        str(pki.client_key),
    )
    assert tpctl("get", "nodes").returncode == 0
    assert tpctl.ok("version").splitlines()[1].startswith("Server Version: ")
    # By name rather than address: the certificate names localhost too.
    port = mtls_server.rsplit(":", 1)[1]
    assert tpctl("get", "nodes", "--server", f"localhost:{port}").returncode == 0


def test_tls_mistakes_are_explained(tmp_path: Path, pki: EtcdPKI, mtls_server: str) -> None:
    tpctl = Tpctl(user_env(tmp_path, tmp_path / "config.yaml"))
    tpctl.ok("config", "set-context", "plain", "--server", mtls_server)
    plaintext = tpctl("get", "nodes")
    assert plaintext.returncode == 1
    assert f"cannot reach the tokenplane server at {mtls_server}" in plaintext.stderr
    assert "speaks plaintext" in plaintext.stderr
    tpctl.ok(
        "config",
        "set-context",
        "no-client-cert",
        "--server",
        mtls_server,
        "--ca-file",
        str(pki.ca_file),
        "--use",
    )
    no_cert = tpctl("get", "nodes")
    assert no_cert.returncode == 1 and "cannot reach" in no_cert.stderr
    tpctl.ok(
        "config",
        "set-context",
        "wrong-name",
        "--server",
        mtls_server,
        "--ca-file",
        str(pki.ca_file),
        "--cert-file",
        str(pki.client_cert),
        "--key-file",
        str(pki.client_key),
        "--tls-server-name",
        "elsewhere.example",
        "--use",
    )
    wrong_name = tpctl("get", "nodes")
    assert wrong_name.returncode == 1 and "cannot reach" in wrong_name.stderr
    tpctl.ok(
        "config",
        "set-context",
        "missing-ca",
        "--server",
        mtls_server,
        "--ca-file",
        str(tmp_path / "nope.crt"),
        "--use",
    )
    missing = tpctl("get", "nodes")
    assert missing.returncode == 1
    assert f"cannot read caFile {tmp_path / 'nope.crt'}" in missing.stderr

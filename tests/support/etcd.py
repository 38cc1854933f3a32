"""Run a real single-member etcd on loopback for tests.

Tests talk to the same etcd binary production does, so the etcd backend is
checked against etcd's real behaviour (revisions, compaction, lease expiry)
rather than a fake. The launcher is a plain class and context manager, free of
pytest, so any suite's fixtures can wrap it; it can kill the server and start
it again on the same data dir and ports, which crash tests need.

With `tls=make_pki(dir)` it serves clients over TLS and requires client
certificates (mTLS), from a throwaway CA made with the openssl CLI.

The server runs with a 10 ms heartbeat and 100 ms election timeout: on one
member that costs nothing, and it lowers etcd's minimum lease TTL
(1.5 election timeouts, rounded up to whole seconds) from 2 s to 1 s, so lease
tests are quick.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ETCD_BIN = "/usr/bin/etcd"
INSTALL_HINT = "run `apt-get install -y etcd-server` (Debian's etcd 3.4)"


class EtcdNotInstalled(RuntimeError):
    """The etcd binary is missing; tests that need it must fail, not skip."""


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: let Linux kill etcd if the test process dies first."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def find_etcd() -> str:
    """Path of the etcd binary, or EtcdNotInstalled saying how to install it."""
    path = ETCD_BIN if os.access(ETCD_BIN, os.X_OK) else shutil.which("etcd")
    if path is None:
        raise EtcdNotInstalled(f"etcd is not installed (looked for {ETCD_BIN}): {INSTALL_HINT}")
    return path


@dataclass(frozen=True)
class EtcdPKI:
    """A CA, a server pair for 127.0.0.1/localhost, and a client pair, as PEM files."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(directory: Path) -> EtcdPKI:
    """Make a throwaway CA and server and client certificates under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=tokenplane-test-ca",
    )
    for name, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        (directory / f"{name}.ext").write_text(
            f"subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n"
        )
        openssl(
            "req",
            *ec,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN=tokenplane-test-{name}",
        )
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
        )
    return EtcdPKI(
        ca_file=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


def make_client_cert(pki: EtcdPKI, name: str) -> tuple[Path, Path]:
    """A client certificate and key from `pki`'s CA naming `name` (CN and DNS SAN): a node's."""
    directory = pki.ca_file.parent

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    (directory / f"{name}.ext").write_text(
        f"subjectAltName=DNS:{name}\nextendedKeyUsage=clientAuth\n"
    )
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
    )  # fmt: skip
    return directory / f"{name}.crt", directory / f"{name}.key"


class EtcdServer:
    """One etcd process on free loopback ports, with its data in `base_dir`.

    The ports are chosen once, so `restart()` brings the server back where
    clients expect it, with the same data.
    """

    def __init__(self, base_dir: Path, *, name: str = "test", tls: EtcdPKI | None = None) -> None:
        self.binary = find_etcd()
        self.name = name
        self.tls = tls
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "etcd.log"
        self.client_port = free_port()
        self.peer_port = free_port()
        self.metrics_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """`host:port` for clients."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        """The store URL for `open_store`."""
        return f"{'etcds' if self.tls else 'etcd'}://{self.endpoint}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        client = f"{'https' if self.tls else 'http'}://{self.endpoint}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        tls = (
            []
            if self.tls is None
            else [
                f"--cert-file={self.tls.server_cert}",
                f"--key-file={self.tls.server_key}",
                f"--trusted-ca-file={self.tls.ca_file}",
                "--client-cert-auth",
            ]
        )
        return [
            self.binary,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={self.name}={peer}",
            "--initial-cluster-state=new",
            f"--listen-metrics-urls=http://127.0.0.1:{self.metrics_port}",
            "--heartbeat-interval=10",
            "--election-timeout=100",
            "--logger=zap",
            "--log-level=warn",
            *tls,
        ]

    def start(self, *, timeout_s: float = 15.0) -> None:
        """Start etcd and wait until /health says so."""
        if self.running:
            raise RuntimeError("etcd is already running")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"etcd exited with {self._process.returncode}; log:\n{self._log_tail()}"
                )
            if self._healthy():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"etcd not healthy after {timeout_s} s; log:\n{self._log_tail()}")

    def _healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.metrics_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return b'"health":"true"' in response.read()
        except (urllib.error.URLError, OSError):
            return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, *, crash: bool = True) -> None:
        """Stop etcd: SIGKILL by default (a crash), SIGTERM with crash=False."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
        process.wait(timeout=10)

    def restart(self, *, crash: bool = True) -> None:
        """Stop and start again on the same data dir and ports."""
        self.stop(crash=crash)
        self.start()

    def __enter__(self) -> EtcdServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextmanager
def running_etcd(base_dir: Path, *, tls: EtcdPKI | None = None) -> Iterator[EtcdServer]:
    """A started EtcdServer with its files under `base_dir`, killed on exit."""
    base_dir.mkdir(parents=True, exist_ok=True)
    with EtcdServer(base_dir, tls=tls) as server:
        yield server

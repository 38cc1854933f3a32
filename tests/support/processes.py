"""Real processes for integration tests: the server and hollow agents, on loopback.

Each starts the installed console script as a subprocess in its own process
group, so that a test can kill it like an operator would (SIGKILL included)
and nothing outlives the test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BIN = Path(sys.executable).parent


class Process:
    def __init__(self, args: Sequence[str], *, log_path: Path, env: dict[str, str] | None = None):
        self.args = list(args)
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_start = self._log.tell()  # a restart appends: read only this run's lines
        self.proc = subprocess.Popen(
            self.args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    def output(self) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(self._log_start)
            return f.read().decode(errors="replace")

    def wait_for_output(self, pattern: str, timeout_s: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if m := re.search(pattern, self.output()):
                return m
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"{self.args[0]} exited {code}:\n{self.output()}")
            time.sleep(0.05)
        raise TimeoutError(f"{pattern!r} not seen in {timeout_s}s:\n{self.output()[-3000:]}")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class ServerProcess(Process):
    """`tokenplane-server` on a free loopback port; `address` once it listens."""

    def __init__(
        self, state_dir: Path, *extra: str, store: str | None = None, listen: str = "127.0.0.1:0"
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(BIN / "tokenplane-server"),
            "--listen",
            listen,
            "--state-dir",
            str(state_dir),
            "--scheduler",
            "inline",
            *extra,
        ]
        if store:
            args += ["--store", store]
        super().__init__(args, log_path=state_dir / "server.log")
        self.state_dir = state_dir
        self.address = self.wait_for_output(r"listening on (\S+)")[1]

    @property
    def token_file(self) -> Path:
        return self.state_dir / "bootstrap-token"


class HollowFleet(Process):
    def __init__(self, fleet_file: Path, server: str, token_file: Path, *extra: str) -> None:
        super().__init__(
            [
                str(BIN / "tokenplane-agent"),
                "--hollow",
                "--fleet",
                str(fleet_file),
                "--server",
                server,
                "--token-file",
                str(token_file),
                *extra,
            ],
            log_path=fleet_file.with_suffix(".agent.log"),
        )


# What each node's carbon figure is: mostly a zone's measured average, every third a margin.
BASES = (
    "{signal: average, scope: lifecycle, provenance: measured, zone: DE-LU}",
    "{signal: average, scope: lifecycle, provenance: measured, zone: DE-LU}",
    "{signal: marginal, scope: direct, provenance: forecast, zone: DE}",
)


def write_fleet(path: Path, n: int, *, prefix: str = "node", tier: str = "edge") -> Path:
    """A fleet file of `n` small nodes spread over Europe, for tests."""
    docs = []
    for i in range(n):
        docs.append(
            f"""apiVersion: tokenplane.io/v1
kind: Node
metadata:
  name: {prefix}-{i}
  labels: {{site: {prefix}-{i % 10}}}
spec:
  tier: {tier}
  location: {{lat: {45 + (i % 10)}, lon: {(i % 20) - 5}, region: eu-west, country: DE}}
  capacity:
    gpus: [{{model: L4, memoryGb: 24, count: 4}}]
  power: {{budgetKw: 20}}
status:
  energy:
    renewableKw: {i % 7}
    carbonGPerKwh: {100 + 10 * (i % 30)}
    pricePerKwh: 0.2
    carbonBasis: {BASES[i % len(BASES)]}
"""
        )
    path.write_text("---\n".join(docs))
    return path

"""End-to-end fixtures for tpctl: a real server, hollow agents, and tpctl typed as a user would.

One server and one hollow fleet serve the whole CLI suite (session scope), so
that it runs in seconds; each test names its own deployments, and tests that
cordon nodes uncordon them. tpctl runs as a subprocess with a config file of
its own and none of the caller's TOKENPLANE_* variables.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import HollowFleet, ServerProcess, write_fleet
from tests.support.waiting import wait_until as wait_until

TPCTL = str(Path(sys.executable).parent / "tpctl")
NODES = [f"node-{i}" for i in range(4)]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Tpctl:
    """Runs `tpctl ARGS...` like a shell would, in a clean environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Result:
        proc = subprocess.run(
            [TPCTL, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, **kwargs: object) -> str:
        result = self(*args, **kwargs)  # type: ignore[arg-type]
        assert result.returncode == 0, f"tpctl {' '.join(args)}: {result.stderr}{result.stdout}"
        return result.stdout

    def json(self, *args: str) -> dict:
        return json.loads(self.ok(*args, "-o", "json"))

    def popen(self, *args: str) -> Stream:
        return Stream(
            subprocess.Popen(
                [TPCTL, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=self.env,
            )
        )


class Stream:
    """A long-running tpctl (`--watch`): read its output as it comes, then Ctrl-C it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.text = ""
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float = 20) -> str:
        deadline = time.monotonic() + timeout_s
        while not predicate(self.text):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"not seen in {timeout_s}s; output so far:\n{self.text}")
            try:
                self.text += self._lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                if self.proc.poll() is not None:
                    assert self.proc.stderr is not None
                    raise AssertionError(
                        f"tpctl exited {self.proc.returncode}:\n{self.proc.stderr.read()}"
                    ) from None
        return self.text

    def interrupt(self) -> int:
        """Ctrl-C, as a person ends a watch; returns the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(10)


@dataclass
class Cluster:
    server: ServerProcess
    fleet: HollowFleet
    home: Path
    config: Path


def user_env(home: Path, config: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TOKENPLANE_", "TPCTL_", "_TPCTL"))
    }
    return {
        **env,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "TPCTL_CONFIG": str(config),
        "NO_COLOR": "1",
    }


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("tpctl")
    server = ServerProcess(root / "state")
    fleet = HollowFleet(
        write_fleet(root / "fleet.yaml", len(NODES)), server.address, server.token_file
    )
    home = root / "home"
    config = home / ".config" / "tokenplane" / "config.yaml"
    try:
        Tpctl(user_env(home, config)).ok(
            "config", "set-context", "e2e", "--server", server.address, "--use"
        )
        yield Cluster(server, fleet, home, config)
    finally:
        fleet.stop()
        server.stop()


@pytest.fixture(scope="session")
def tpctl(cluster: Cluster) -> Tpctl:
    run = Tpctl(user_env(cluster.home, cluster.config))

    def all_ready() -> bool:
        nodes = json.loads(run.ok("get", "nodes", "-o", "json"))["items"]
        ready = {
            n["metadata"]["name"]
            for n in nodes
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        }
        return ready >= set(NODES)

    wait_until(all_ready, what="the hollow nodes to be Ready")
    return run


def parse_table(text: str) -> list[dict[str, str]]:
    """Reads a tpctl table back: columns start where their headers start."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s{2}))\S", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {
            name: line[a:b].strip()
            for name, a, b in zip(names, starts, [*starts[1:], None], strict=True)
        }
        for line in lines[1:]
    ]


def deployment_manifest(
    name: str,
    *,
    replicas: int = 1,
    labels: str = "{}",
    annotations: str = "{}",
    extra_spec: str = "",
) -> str:
    return f"""apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata:
  name: {name}
  labels: {labels}
  annotations: {annotations}
spec:
  model: {{name: llama-3-8b, version: "3.1", runtime: vllm}}
  replicas: {replicas}
  resources: {{gpus: 1, gpuModel: L4, powerKw: 0.8}}
  demand:
    - {{name: paris, lat: 48.85, lon: 2.35, weight: 2}}
    - {{name: berlin, lat: 52.52, lon: 13.40}}
  latencySloMs: 80
{extra_spec}"""

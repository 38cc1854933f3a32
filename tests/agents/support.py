"""Helpers for the agent's tests: replicas to deploy, the fixture model server, waiting."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import urllib.request
from pathlib import Path

import psutil
import yaml

from agents.config import ProcessRuntimeConfig
from tests.support.processes import BIN, Process
from tests.support.waiting import async_wait_until as async_wait_until
from tests.support.waiting import wait_until as wait_until
from tokenplane.v1 import agent_pb2, resources_pb2

MODEL_SERVER = Path(__file__).with_name("model_server.py")


def fixture_command(*extra: str) -> str:
    """The command template that runs the test fixture model server."""
    return " ".join(
        [sys.executable, str(MODEL_SERVER), "--model", "{model}", "--port", "{port}", *extra]
    )


def process_config(**overrides: object) -> ProcessRuntimeConfig:
    data: dict[str, object] = {
        "driver": "process",
        "templates": {
            "fixture": {"command": fixture_command()},
            "slow": {"command": fixture_command("--startup-seconds", "1")},
            "stubborn": {"command": fixture_command("--ignore-sigterm")},
            "crashing": {"command": fixture_command("--exit-after", "0.3")},
        },
        "restartBackoffSeconds": 0.2,
        "maxRestartBackoffSeconds": 1,
        "gracePeriodSeconds": 2,
        "healthIntervalSeconds": 1,
    }
    data.update(overrides)
    return ProcessRuntimeConfig.model_validate(data)


def replica(
    name: str, *, runtime: str = "fixture", gpus: int = 0, gpu_model: str = "", power_kw: float = 0
) -> resources_pb2.Replica:
    r = resources_pb2.Replica(api_version="tokenplane.io/v1", kind="Replica")
    r.metadata.name = name
    r.spec.deployment = "llama"
    r.spec.model.name = f"model-of-{name}"
    r.spec.model.runtime = runtime
    r.spec.resources.gpus = gpus
    r.spec.resources.gpu_model = gpu_model
    r.spec.resources.power_kw = power_kw
    return r


def served_pid(endpoint: str) -> int:
    """Asks a replica's endpoint which process answers (the fixture server says its pid)."""
    with urllib.request.urlopen(f"{endpoint}/v1/models", timeout=2) as response:
        pid: int = json.loads(response.read())["pid"]
        return pid


def node_yaml(name: str, *, energy: str, extra_templates: str = "") -> str:
    """A node config for tests: the fixture model server as the `fixture` runtime."""
    return f"""apiVersion: tokenplane.io/v1
kind: Node
metadata:
  name: {name}
  labels: {{site: test}}
spec:
  tier: edge
  location: {{lat: 48.14, lon: 11.58, region: eu-central, country: DE, city: Munich}}
  capacity:
    gpus: [{{model: L4, memoryGb: 24, count: 4}}]
  power: {{budgetKw: 20}}
agent:
  energy:
{energy}
  runtime:
    driver: process
    restartBackoffSeconds: 0.2
    gracePeriodSeconds: 2
    healthIntervalSeconds: 1
    templates:
      fixture: {{command: "{fixture_command()}"}}
{extra_templates}"""


STATIC_ENERGY = """    source: static
    renewableKw: 5
    carbonGPerKwh: 210
    pricePerKwh: 0.2"""


class AgentProcess(Process):
    """`tokenplane-agent --config` as an operator runs it, in its own process group."""

    def __init__(self, config: Path, server: str, token: str, state_dir: Path) -> None:
        super().__init__(
            [
                str(BIN / "tokenplane-agent"),
                "--config",
                str(config),
                "--server",
                server,
                "--token",
                token,
                "--state-dir",
                str(state_dir),
                "--log-level",
                "info",
            ],
            log_path=state_dir.parent / f"{config.stem}.agent.log",
        )
        self.state_dir = state_dir


def fixture_pids(model: str) -> list[int]:
    """Every running fixture model server serving `model`, whoever started it."""
    pids = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if (
            str(MODEL_SERVER) in cmdline
            and model in cmdline
            and proc.info["status"] != psutil.STATUS_ZOMBIE
        ):
            pids.append(proc.pid)
    return sorted(pids)


def kill_recorded_replicas(state_dir: Path) -> None:
    """Cleans up replicas an agent left running (they outlive it by design)."""
    state = state_dir / "agent-state.json"
    if not state.exists():
        return
    for record in json.loads(state.read_text())["replicas"].values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record["pid"], signal.SIGKILL)


AGENT_DOC = Path(__file__).resolve().parents[2] / "docs" / "agent.md"


def yaml_blocks() -> list[str]:
    """The YAML examples of docs/agent.md, so that tests hold the documentation to account."""
    return re.findall(r"```yaml\n(.*?)```", AGENT_DOC.read_text(), re.S)


def full_example() -> dict[str, object]:
    """docs/agent.md's complete node config."""
    (example,) = [b for b in yaml_blocks() if b.startswith("apiVersion")]
    doc: dict[str, object] = yaml.safe_load(example)
    return doc


class StillRuntime:
    """A runtime that starts nothing and declares what its replicas hold: what telemetry reads."""

    def __init__(self, gpus: dict[str, int] | None = None, power_kw: float = 0.0) -> None:
        self._usage = (gpus or {}), power_kw

    def deploy(self, replica: object, generation: int) -> None: ...
    def undeploy(self, name: str, generation: int) -> None: ...
    def states(self) -> list[agent_pb2.ReplicaState]:
        return []

    def usage(self) -> tuple[dict[str, int], float]:
        return self._usage

    async def logs(self, name: str, lines: int) -> str:
        raise LookupError(name)

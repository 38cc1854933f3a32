"""One live session per node, with real processes: `tokenplane-server` and real agents.

The rule (controlplane/api/agent.py, agent.proto): a second agent for a node
whose stream is live waits for that session to end and takes over without the
node turning NotReady; if the session does not end, it is refused with
ALREADY_EXISTS and a retry-after, which its agent logs. It never replaces the
live session. What a user would notice, checked all along: the node of the
live session stays Ready, and the model servers actually running (OS
processes, counted with psutil) never exceed the deployment's replicas.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from agents.node_agent import NODE_TOKENS_FILE
from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tests.agents.support import (
    STATIC_ENERGY,
    AgentProcess,
    fixture_pids,
    kill_recorded_replicas,
    node_yaml,
    wait_until,
)
from tests.support.processes import ServerProcess
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc, resources_pb2

NODE = "munich-1"
MODEL = "session-chat"
DEPLOYMENT = f"""
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {{name: chat}}
spec:
  model: {{name: {MODEL}, runtime: fixture}}
  replicas: 2
  resources: {{gpus: 1, gpuModel: L4, powerKw: 0.3}}
  demand: [{{lat: 48.14, lon: 11.58}}]
"""


class Watch:
    """Samples, every 50 ms until stopped, the most model servers running at once."""

    def __init__(self) -> None:
        self.most_running = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.most_running = max(self.most_running, len(fixture_pids(MODEL)))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.most_running


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server")
    yield proc
    proc.stop()


def _ready(stub: fleet_pb2_grpc.FleetServiceStub) -> bool:
    try:
        node = stub.Get(fleet_pb2.GetRequest(kind="Node", name=NODE), timeout=5).resource.node
    except grpc.RpcError:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def _node_events(stub: fleet_pb2_grpc.FleetServiceStub) -> list[str]:
    request = fleet_pb2.EventsRequest(kind="Node", name=NODE)
    return [e.event.reason for e in stub.Events(request, timeout=5)]


def _running(stub: fleet_pb2_grpc.FleetServiceStub) -> list[resources_pb2.Replica]:
    items = stub.List(fleet_pb2.ListRequest(kind="Replica"), timeout=5).items
    return [i.replica for i in items if i.replica.status.phase == "Running"]


def _served_logs(stub: fleet_pb2_grpc.FleetServiceStub, replica: str) -> bool:
    """Whether the agent holding the node's session answers for the replica's log."""
    try:
        reply = stub.ReplicaLogs(fleet_pb2.ReplicaLogsRequest(name=replica), timeout=5)
    except grpc.RpcError:
        return False
    return f"serving {MODEL}" in reply.text


def test_second_agents_never_unseat_the_live_one_and_an_overlapping_upgrade_takes_over(
    server: ServerProcess, tmp_path: Path
) -> None:
    config = tmp_path / f"{NODE}.yaml"
    config.write_text(node_yaml(NODE, energy=STATIC_ENERGY))
    token = server.token_file.read_text().strip()
    state = tmp_path / "agent"
    first = AgentProcess(config, server.address, token, state)
    others: list[AgentProcess] = []
    watch = Watch()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            wait_until(lambda: _ready(stub), 20, "node Ready")
            (deployment,) = load_manifests(DEPLOYMENT)
            stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(deployment)), timeout=5)
            wait_until(lambda: len(_running(stub)) == 2, 30, "2 replicas Running")
            replicas = sorted(r.metadata.name for r in _running(stub))

            # Double start on another machine, or an impostor holding the node's token (a
            # copy of its files): it waits, is refused with a status its agent logs, and
            # keeps being refused. (The bootstrap token alone does not even join: tests/security.)
            second_config = tmp_path / "second" / f"{NODE}.yaml"
            second_config.parent.mkdir()
            second_config.write_text(config.read_text())
            second_state = tmp_path / "second-state"
            second_state.mkdir()
            shutil.copy(state / NODE_TOKENS_FILE, second_state / NODE_TOKENS_FILE)
            second = AgentProcess(second_config, server.address, token, second_state)
            others.append(second)
            server.wait_for_output(f"node {NODE}: a second session waits", 20)
            second.wait_for_output(f"refused: node {NODE} already has a live session", 30)
            assert second.output().count("already has a live session") >= 1
            assert _ready(stub) and _node_events(stub) == ["NodeReady"]
            second.kill()

            # An upgrade: the new agent (same state dir) starts while the old one still
            # runs, and takes over the session when the old one stops, with no NotReady.
            before = server.output().count(f"node {NODE}: a second session waits")
            upgrade = AgentProcess(config, server.address, token, state)
            others.append(upgrade)
            wait_until(
                lambda: server.output().count(f"node {NODE}: a second session waits") > before,
                20,
                "the new agent waiting for the old one's session",
            )
            first.stop()  # SIGTERM: the old agent leaves its replicas running
            wait_until(lambda: _served_logs(stub, replicas[0]), 20, "the new agent serving")
            assert sorted(r.metadata.name for r in _running(stub)) == replicas, "none replaced"
            assert _node_events(stub) == ["NodeReady"], "the node never turned NotReady"
            assert "refused" not in upgrade.output()
        assert watch.stop() <= 2, "more model servers ran than the deployment's replicas"
        assert len(fixture_pids(MODEL)) == 2
    finally:
        watch.stop()
        for agent in (first, *others):
            agent.stop()
        kill_recorded_replicas(state)
        kill_recorded_replicas(tmp_path / "second-state")

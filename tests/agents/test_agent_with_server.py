"""A real agent with the real control plane (`tokenplane-server`): join, telemetry, deploy.

The node is modelled in Munich: its heartbeat's solar and carbon must reach
the node's status with their origins, and a ModelDeployment applied through the
Fleet API must end as replicas the agent runs, Running with endpoints that serve,
and whose logs the Fleet API fetches from the agent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import psutil
import pytest

from agents.config import SolarArray
from agents.energy.modelled import SolarModel
from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tests.agents.support import (
    AgentProcess,
    fixture_pids,
    kill_recorded_replicas,
    node_yaml,
    served_pid,
    wait_until,
)
from tests.support.processes import ServerProcess
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc, resources_pb2

MODELLED_ENERGY = """    source: modelled
    solar: {capacityKwp: 50, tiltDeg: 30, azimuthDeg: 180}
    pricePerKwh: 0.25"""

DEPLOYMENT = """
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: tiny-chat, runtime: fixture}
  replicas: 2
  resources: {gpus: 1, gpuModel: L4, powerKw: 0.3}
  demand: [{lat: 48.14, lon: 11.58}]
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server")
    yield proc
    proc.stop()


def get_node(stub: fleet_pb2_grpc.FleetServiceStub, name: str) -> resources_pb2.Node:
    return stub.Get(fleet_pb2.GetRequest(kind="Node", name=name), timeout=5).resource.node


def ready(stub: fleet_pb2_grpc.FleetServiceStub, name: str) -> bool:
    try:
        node = get_node(stub, name)
    except grpc.RpcError:
        return False  # not joined yet
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def replicas(stub: fleet_pb2_grpc.FleetServiceStub) -> list[resources_pb2.Replica]:
    items = stub.List(fleet_pb2.ListRequest(kind="Replica"), timeout=5).items
    return [i.replica for i in items]


def test_agent_joins_reports_modelled_energy_and_runs_what_is_applied(
    server: ServerProcess, tmp_path: Path
) -> None:
    config = tmp_path / "munich-1.yaml"
    config.write_text(node_yaml("munich-1", energy=MODELLED_ENERGY))
    state_dir = tmp_path / "agent"
    agent = AgentProcess(config, server.address, server.token_file.read_text().strip(), state_dir)
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            wait_until(lambda: ready(stub, "munich-1"), 20, "node Ready")
            wait_until(lambda: get_node(stub, "munich-1").status.energy.source, 10, "energy")
            node = get_node(stub, "munich-1")
            assert node.spec.capacity.cpu_cores == psutil.cpu_count()
            assert node.spec.capacity.memory_gb > 0
            energy = node.status.energy
            assert energy.carbon_g_per_kwh == 380.95  # codecarbon's figure for Germany, 2023
            assert "carbon=modelled:codecarbon-energy-mix(DE,2023,annual)" in energy.source
            assert "renewable=modelled:pvlib-clearsky" in energy.source
            solar = SolarModel(48.14, 11.58, SolarArray(capacity_kwp=50))
            expected = solar.power_kw_at(datetime.now(UTC))
            assert energy.renewable_kw == pytest.approx(expected, abs=1.0)
            assert energy.price_per_kwh == 0.25 and energy.budget_kw == 20

            (deployment,) = load_manifests(DEPLOYMENT)
            stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(deployment)), timeout=5)

            def running() -> list[resources_pb2.Replica]:
                return [r for r in replicas(stub) if r.status.phase == "Running"]

            wait_until(lambda: len(running()) == 2, 30, "2 replicas Running")
            for r in running():
                assert r.spec.node_name == "munich-1"
                assert served_pid(r.status.endpoint) in fixture_pids("tiny-chat")
            assert len(fixture_pids("tiny-chat")) == 2

            # `tpctl logs`: the server asks the agent over the stream for the replica's log.
            name = running()[0].metadata.name
            reply = stub.ReplicaLogs(fleet_pb2.ReplicaLogsRequest(name=name), timeout=10)
            assert reply.node == "munich-1" and "serving tiny-chat" in reply.text
    finally:
        agent.stop()
        kill_recorded_replicas(state_dir)

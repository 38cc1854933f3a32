"""A real agent on the `electricitymaps` source, through the real server, to the Node's status.

The agent process polls the Electricity Maps fake (a loopback HTTP server
replaying CA-ON's 2023-06-21 noon hour as if it were now) with a key from a
file; the server's Node status must show the figure with its basis, and the
agent's log must not show the key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from tests.agents.support import AgentProcess, node_yaml, wait_until
from tests.support.fake_grid_apis import FakeElectricityMaps, load_hours
from tests.support.processes import ServerProcess
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc, resources_pb2

NOON_2023 = datetime(2023, 6, 21, 12, 10, tzinfo=UTC).timestamp()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server")
    yield proc
    proc.stop()


@pytest.fixture
def em() -> Iterator[FakeElectricityMaps]:
    fake = FakeElectricityMaps(time.time, replay_offset_s=time.time() - NOON_2023)
    yield fake
    fake.stop()


def get_node(stub: fleet_pb2_grpc.FleetServiceStub, name: str) -> resources_pb2.Node:
    return stub.Get(fleet_pb2.GetRequest(kind="Node", name=name), timeout=5).resource.node


def test_agent_reports_the_zones_average_with_its_basis(
    server: ServerProcess, em: FakeElectricityMaps, tmp_path: Path
) -> None:
    key_file = tmp_path / "em.key"
    key_file.write_text(FakeElectricityMaps.KEY)
    energy = f"""    source: electricitymaps
    zone: CA-ON
    url: {em.url}/v3
    apiKeyFile: {key_file}
    pricePerKwh: 0.09"""
    config = tmp_path / "toronto-1.yaml"
    config.write_text(node_yaml("toronto-1", energy=energy))
    agent = AgentProcess(
        config, server.address, server.token_file.read_text().strip(), tmp_path / "agent"
    )
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)

            def basis() -> resources_pb2.CarbonBasis | None:
                try:
                    energy = get_node(stub, "toronto-1").status.energy
                except grpc.RpcError:
                    return None  # not joined yet
                return energy.carbon_basis if energy.HasField("carbon_basis") else None

            wait_until(basis, 30, "the node's carbon basis")
            energy_now = get_node(stub, "toronto-1").status.energy
            noon = load_hours()["CA-ON"][12]
            assert energy_now.carbon_g_per_kwh == noon.lifecycle_g_per_kwh
            b = energy_now.carbon_basis
            assert (b.signal, b.scope, b.provenance) == ("average", "lifecycle", "measured")
            assert (b.zone, b.provider, b.stale) == ("CA-ON", "electricitymaps", False)
            assert 500 <= b.age_seconds < 700  # 10 minutes into the hour, as served
            assert "carbon=electricitymaps:CA-ON" in energy_now.source
            assert energy_now.price_per_kwh == 0.09
            assert em.calls("/carbon-intensity/latest")[0].headers["auth-token"] == em.KEY
    finally:
        agent.stop()
    assert FakeElectricityMaps.KEY not in agent.log_path.read_text()

"""Measured RTTs end to end: agents probe a landmark, the operator's matrix fills in the rest.

Real parts throughout: `tokenplane-agent` processes time TCP handshakes to a
listener on loopback that the server's regions file names as a landmark; the
server runs in-process (to read its scheduler snapshot) or as
`tokenplane-server` (to read the Node status a user sees).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from controlplane.server.app import ControlPlane
from controlplane.server.config import ServerConfig
from tests.agents.support import STATIC_ENERGY, AgentProcess, node_yaml
from tests.support.processes import HollowFleet, ServerProcess
from tests.support.waiting import async_wait_until, wait_until
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc, resources_pb2


class Landmark:
    """A TCP listener on loopback, standing for a region's probe address; counts connects."""

    def __init__(self) -> None:
        self.accepted = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


@pytest.fixture
def landmark() -> Iterator[Landmark]:
    lab = Landmark()
    yield lab
    lab.close()


def regions_file(tmp_path: Path, landmark: Landmark) -> Path:
    path = tmp_path / "regions.yaml"
    path.write_text(f"- {{name: lab, lat: 48.1, lon: 11.6, probe: '{landmark.address}'}}\n")
    return path


def test_an_agents_probe_of_a_landmark_reaches_the_scheduler_snapshot(
    tmp_path: Path, landmark: Landmark
) -> None:
    config = ServerConfig(
        store=f"sqlite:///{tmp_path}/tokenplane.db",
        state_dir=tmp_path,
        listen="127.0.0.1:0",
        scheduler="inline",
        regions=regions_file(tmp_path, landmark),
        probe_interval_s=1,
    )
    node_config = tmp_path / "munich-1.yaml"
    node_config.write_text(node_yaml("munich-1", energy=STATIC_ENERGY))

    async def run() -> dict[str, float]:
        plane = ControlPlane(config)
        await plane.start()
        agent = AgentProcess(
            node_config,
            plane.address,
            (tmp_path / "bootstrap-token").read_text().strip(),
            tmp_path / "agent",
        )
        try:

            def measured() -> dict[str, float]:
                snap = plane.table.snapshot()
                rows = [i for i, n in enumerate(snap.names) if n == "munich-1"]
                return snap.measured_rtt_ms.get(rows[0], {}) if rows else {}

            await async_wait_until(lambda: "lab" in measured(), 30, "lab's RTT in the snapshot")
            snap = plane.table.snapshot()
            assert snap.landmarks["lab"] == (48.1, 11.6)
            return measured()
        finally:
            agent.stop()
            await plane.stop()

    rtts = asyncio.run(run())
    assert rtts.keys() == {"lab"}  # the shipped regions have no probe address
    assert 0 < rtts["lab"] < 100  # a handshake on loopback
    assert landmark.accepted >= 1


def get_node(address: str, name: str) -> resources_pb2.Node | None:
    with grpc.insecure_channel(address) as channel:
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        try:
            return stub.Get(fleet_pb2.GetRequest(kind="Node", name=name), timeout=5).resource.node
        except grpc.RpcError:
            return None


def rtts_of(address: str, name: str) -> dict[str, tuple[float, str]]:
    node = get_node(address, name)
    return {r.target: (r.rtt_ms, r.method) for r in node.status.rtt} if node else {}


HOLLOW_FLEET = """apiVersion: tokenplane.io/v1
kind: Node
metadata: {name: hollow-paris}
spec:
  tier: edge
  location: {lat: 48.85, lon: 2.35, region: europe, country: FR}
  capacity: {gpus: [{model: L4, memoryGb: 24, count: 2}]}
  power: {budgetKw: 10}
agent:
  simulatedRttMs: {westeurope: 9.5, lab: 7}
"""


def test_node_status_shows_probed_matrix_and_simulated_rtts_with_their_origin(
    tmp_path: Path, landmark: Landmark
) -> None:
    matrix = tmp_path / "rtt.csv"
    matrix.write_text(
        "source,target,rtt_ms\n"
        "eu-central,us-east-1,95\n"  # munich-1's region (spec.location.region)
        "munich-1,lab,50\n"  # its agent's own probe wins over this
        "europe,us-east-1,88\n"
        "hollow-paris,westeurope,30\n"  # its simulated figure wins
    )
    server = ServerProcess(
        tmp_path / "server",
        "--regions",
        str(regions_file(tmp_path, landmark)),
        "--rtt-matrix",
        str(matrix),
        "--probe-interval",
        "1",
    )
    node_config = tmp_path / "munich-1.yaml"
    node_config.write_text(node_yaml("munich-1", energy=STATIC_ENERGY))
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(HOLLOW_FLEET)
    agent = hollow = None
    try:
        agent = AgentProcess(
            node_config, server.address, server.token_file.read_text().strip(), tmp_path / "agent"
        )
        hollow = HollowFleet(fleet_file, server.address, server.token_file)
        wait_until(
            lambda: rtts_of(server.address, "munich-1").get("lab", (0, ""))[1] == "tcp-connect",
            30,
            "munich-1's probe of lab in its status",
        )
        wait_until(
            lambda: "lab" in rtts_of(server.address, "hollow-paris"), 30, "hollow-paris's RTTs"
        )
        munich = rtts_of(server.address, "munich-1")
        assert munich["lab"][0] < 50
        assert munich["us-east-1"] == (95.0, "matrix")
        assert rtts_of(server.address, "hollow-paris") == {
            "lab": (7.0, "simulated"),
            "westeurope": (9.5, "simulated"),
            "us-east-1": (88.0, "matrix"),
        }
    finally:
        for proc in (hollow, agent):
            if proc is not None:
                proc.stop()
        server.stop()


def test_a_bad_matrix_or_regions_file_stops_the_server_naming_the_line(tmp_path: Path) -> None:
    matrix = tmp_path / "rtt.csv"
    matrix.write_text("source,target,rtt_ms\nedge-1,atlantis,5\n")
    with pytest.raises(RuntimeError) as e:
        ServerProcess(tmp_path / "a", "--rtt-matrix", str(matrix))
    assert f"--rtt-matrix: {matrix}:2: target: 'atlantis' is not a known landmark" in str(e.value)
    regions = tmp_path / "regions.yaml"
    regions.write_text("- {name: lab, lat: 91, lon: 0}\n")
    with pytest.raises(RuntimeError) as e:
        ServerProcess(tmp_path / "b", "--regions", str(regions))
    assert f"--regions {regions}:1: regions[0].lat: Input should be less" in str(e.value)

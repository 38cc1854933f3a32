"""The server with hollow agents over loopback: join, liveness, restarts, bad input.

Real processes throughout: `tokenplane-server` and `tokenplane-agent --hollow`,
talking gRPC on loopback; the store is the embedded SQLite file or a real etcd.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from controlplane.resources import load_manifests
from controlplane.resources.codec import from_resource, to_resource
from tests.support.etcd import running_etcd
from tests.support.processes import HollowFleet, ServerProcess, write_fleet
from tests.support.waiting import wait_until
from tokenplane.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc

DEPLOYMENT = """
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {name: llama-eu, labels: {team: search}}
spec:
  model: {name: llama-3.1-8b}
  replicas: 2
  resources: {gpus: 1, gpuModel: L4, powerKw: 0.4}
  demand: [{lat: 48.85, lon: 2.35}]
"""


@contextmanager
def fleet_stub(address: str) -> Iterator[fleet_pb2_grpc.FleetServiceStub]:
    with grpc.insecure_channel(address) as channel:
        yield fleet_pb2_grpc.FleetServiceStub(channel)


def ready_counts(stub: fleet_pb2_grpc.FleetServiceStub) -> tuple[int, int]:
    nodes = stub.List(fleet_pb2.ListRequest(kind="Node"), timeout=10).items
    ready = sum(
        1
        for n in nodes
        if any(c.type == "Ready" and c.status == "True" for c in n.node.status.conditions)
    )
    return ready, len(nodes)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "state")
    yield proc
    proc.stop()


def test_hundred_nodes_join_are_ready_and_turn_not_ready_when_killed(
    server: ServerProcess, tmp_path: Path
) -> None:
    fleet = HollowFleet(
        write_fleet(tmp_path / "fleet.yaml", 100), server.address, server.token_file
    )
    try:
        with fleet_stub(server.address) as stub:
            wait_until(lambda: ready_counts(stub) == (100, 100), 30, "100 nodes Ready")
            node = stub.Get(fleet_pb2.GetRequest(kind="Node", name="node-7")).resource.node
            assert node.status.gpus[0].model == "L4" and node.status.gpus[0].total == 4
            assert node.status.energy.carbon_g_per_kwh == 170
            fleet.kill()
            # A closed stream is seen at once; allow generously for 100 of them.
            wait_until(lambda: ready_counts(stub) == (0, 100), 10, "all NotReady after kill")

            def reasons() -> list[str]:
                request = fleet_pb2.EventsRequest(kind="Node", name="node-7")
                return [e.event.reason for e in stub.Events(request)]

            wait_until(lambda: reasons() == ["NodeReady", "NodeNotReady"], 5, "node-7's events")
    finally:
        fleet.stop()


def test_frozen_agent_is_found_by_keepalive_and_comes_back(
    server: ServerProcess, tmp_path: Path
) -> None:
    """SIGSTOP leaves the TCP connection open but silent, as a network partition would."""
    fleet = HollowFleet(write_fleet(tmp_path / "fleet.yaml", 5), server.address, server.token_file)
    try:
        with fleet_stub(server.address) as stub:
            wait_until(lambda: ready_counts(stub) == (5, 5), 20, "5 nodes Ready")
            fleet.signal(signal.SIGSTOP)
            wait_until(lambda: ready_counts(stub) == (0, 5), 10, "NotReady while frozen")
            fleet.signal(signal.SIGCONT)
            wait_until(lambda: ready_counts(stub) == (5, 5), 30, "Ready again after thaw")
    finally:
        fleet.signal(signal.SIGCONT)
        fleet.stop()


@pytest.fixture(params=["sqlite", "etcd"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The embedded default (None), or a real etcd server started for the test."""
    if request.param == "sqlite":
        yield None
        return
    with running_etcd(tmp_path / "etcd") as etcd:
        yield f"etcd://{etcd.endpoint}"


def test_restart_keeps_everything_applied_and_nodes_reconnect(
    tmp_path: Path, store_url: str | None
) -> None:
    state = tmp_path / "state"
    server = ServerProcess(state, store=store_url)
    fleet = HollowFleet(write_fleet(tmp_path / "fleet.yaml", 10), server.address, server.token_file)
    address = server.address
    try:
        with fleet_stub(address) as stub:
            (deployment,) = load_manifests(DEPLOYMENT)
            applied = stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(deployment)))
            assert applied.result == fleet_pb2.APPLY_RESULT_CREATED
            wait_until(lambda: ready_counts(stub) == (10, 10), 20, "10 nodes Ready")
            stub.Cordon(fleet_pb2.CordonRequest(name="node-3"))
        server.kill()  # a crash, not a clean stop
        server = ServerProcess(state, store=store_url, listen=address)
        with fleet_stub(address) as stub:
            got = from_resource(
                stub.Get(fleet_pb2.GetRequest(kind="ModelDeployment", name="llama-eu")).resource
            )
            assert got.spec == deployment.spec and got.metadata.labels == {"team": "search"}
            wait_until(lambda: ready_counts(stub) == (10, 10), 30, "nodes back after restart")
            node = stub.Get(fleet_pb2.GetRequest(kind="Node", name="node-3")).resource.node
            assert node.spec.unschedulable, "cordon survives a restart and a re-join"
            again = stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(deployment)))
            assert again.result == fleet_pb2.APPLY_RESULT_UNCHANGED
    finally:
        fleet.stop()
        server.stop()


def test_bad_requests_get_clear_errors_and_the_server_stays_up(server: ServerProcess) -> None:
    (deployment,) = load_manifests(DEPLOYMENT)
    with grpc.insecure_channel(server.address) as channel:
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(deployment)))

        bad = to_resource(deployment)
        bad.model_deployment.spec.placement.privacy = "public"
        bad.model_deployment.spec.resources.power_kw = -1
        with pytest.raises(grpc.RpcError) as err:
            stub.Apply(fleet_pb2.ApplyRequest(resource=bad))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "spec.placement.privacy" in err.value.details()
        assert "spec.resources.powerKw" in err.value.details()

        for request, code, text in [
            (fleet_pb2.ApplyRequest(), grpc.StatusCode.INVALID_ARGUMENT, "empty"),
            (fleet_pb2.GetRequest(kind="Pod", name="x"), grpc.StatusCode.INVALID_ARGUMENT, "kind"),
            (fleet_pb2.GetRequest(kind="Node", name="nope"), grpc.StatusCode.NOT_FOUND, "nope"),
        ]:
            method = stub.Apply if isinstance(request, fleet_pb2.ApplyRequest) else stub.Get
            with pytest.raises(grpc.RpcError) as err:
                method(request)
            assert err.value.code() == code and text in err.value.details()

        stale = to_resource(deployment)
        stale.model_deployment.metadata.resource_version = "1"
        stale.model_deployment.spec.replicas = 5
        with pytest.raises(grpc.RpcError) as err:
            stub.Apply(fleet_pb2.ApplyRequest(resource=stale))
        assert err.value.code() == grpc.StatusCode.ABORTED and "stale" in err.value.details()

        raw = channel.unary_unary(
            "/tokenplane.v1.FleetService/Apply", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.RpcError) as err:
            raw(b"\xff\xff\xff\xff garbage")
        assert "Error parsing message with type 'tokenplane.v1.ApplyRequest'" in (
            err.value.details()
        )
        with pytest.raises(grpc.RpcError) as err:
            raw(b"\n" + b"\x00" * (5 * 1024 * 1024))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        agents = agent_pb2_grpc.AgentServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            agents.Join(agent_pb2.JoinRequest(bootstrap_token="wrong"))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        token = server.token_file.read_text().strip()
        with pytest.raises(grpc.RpcError) as err:
            agents.Join(agent_pb2.JoinRequest(bootstrap_token=token))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "node" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            list(agents.Connect(iter([agent_pb2.AgentMessage()])))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

        kept = from_resource(
            stub.Get(fleet_pb2.GetRequest(kind="ModelDeployment", name="llama-eu")).resource
        )
        assert kept.spec == deployment.spec, "nothing stored was lost"

"""High availability on etcd: two control-plane replicas, one leader, fail-over.

Real processes: an etcd server, two `tokenplane-server --leader-elect` on it,
and hollow agents given both addresses (as a Kubernetes Service would route
them to whichever is ready). Killing the leader hands the fleet to the standby
with every applied deployment and every running replica intact.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tests.support.etcd import EtcdServer, free_port, running_etcd
from tests.support.manifests import deployment_yaml, node_yaml
from tests.support.processes import HollowFleet, ServerProcess
from tests.support.waiting import wait_until
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc

FLEET = "tokenplane.v1.FleetService"
RPC = (grpc.RpcError,)  # a server not (yet, or any more) answering: not yet


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    with running_etcd(tmp_path / "etcd") as server:
        yield server


def serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=FLEET), timeout=2)
        return response.status == health_pb2.HealthCheckResponse.SERVING


def replicas_running(address: str) -> list[tuple[str, str]]:
    with grpc.insecure_channel(address) as channel:
        items = (
            fleet_pb2_grpc.FleetServiceStub(channel)
            .List(fleet_pb2.ListRequest(kind="Replica"), timeout=5)
            .items
        )
    return sorted((i.replica.metadata.name, i.replica.status.phase) for i in items)


def ready_nodes(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        items = (
            fleet_pb2_grpc.FleetServiceStub(channel)
            .List(fleet_pb2.ListRequest(kind="Node"), timeout=5)
            .items
        )
    return sum(
        any(c.type == "Ready" and c.status == "True" for c in i.node.status.conditions)
        for i in items
    )


def reconcile_passes(metrics_url: str) -> float:
    """The server's count of finished reconcile passes, from its Prometheus /metrics."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("tokenplane_reconcile_passes_total"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_standby_takes_over_with_nothing_lost(etcd: EtcdServer, tmp_path: Path) -> None:
    store = f"etcd://{etcd.endpoint}"
    ports = [free_port() for _ in range(2)]
    # What the chart mounts from Secrets: every replica the same bootstrap token and key.
    (tmp_path / "bootstrap-token").write_text("ha-test-bootstrap-token\n")
    (tmp_path / "signing-key").write_text("ha-test-node-token-signing-key-of-32-bytes\n")
    servers = [
        ServerProcess(
            tmp_path / f"cp{i}",
            "--leader-elect",
            "--metrics-listen",
            f"127.0.0.1:{port}",
            "--bootstrap-token-file",
            str(tmp_path / "bootstrap-token"),
            "--signing-key-file",
            str(tmp_path / "signing-key"),
            store=store,
        )
        for i, port in enumerate(ports)
    ]
    (tmp_path / "fleet.yaml").write_text(
        "---\n".join([node_yaml("fra-1", "fra"), node_yaml("par-1", "par")])
    )
    both = "ipv4:" + ",".join(s.address for s in servers)
    agents = None
    try:
        wait_until(
            lambda: sum(serving(s.address) for s in servers) == 1, 30, "one leader", ignoring=RPC
        )
        leader, standby = sorted(servers, key=lambda s: not serving(s.address))
        with grpc.insecure_channel(standby.address) as channel:
            with pytest.raises(grpc.RpcError) as err:
                fleet_pb2_grpc.FleetServiceStub(channel).List(fleet_pb2.ListRequest(kind="Node"))
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "standby" in err.value.details()
            # A watch (`tpctl get -w`) is told the same, not an internal TypeError.
            with pytest.raises(grpc.RpcError) as err:
                list(
                    fleet_pb2_grpc.FleetServiceStub(channel).Watch(
                        fleet_pb2.WatchRequest(kind="Node")
                    )
                )
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
            assert "standby" in err.value.details()
        agents = HollowFleet(tmp_path / "fleet.yaml", both, tmp_path / "bootstrap-token")
        with grpc.insecure_channel(leader.address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            for resource in load_manifests(deployment_yaml("chat", 3)):
                stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(resource)))
        wait_until(
            lambda: [p for _, p in replicas_running(leader.address)] == ["Running"] * 3,
            30,
            "3 replicas Running under the first leader",
            ignoring=RPC,
        )
        before = replicas_running(leader.address)

        leader.kill()
        wait_until(lambda: serving(standby.address), 30, "the standby leads", ignoring=RPC)
        wait_until(
            lambda: ready_nodes(standby.address) == 2, 40, "agents reconnect to it", ignoring=RPC
        )
        metrics = f"http://127.0.0.1:{ports[servers.index(standby)]}/metrics"
        seen = reconcile_passes(metrics)
        wait_until(lambda: reconcile_passes(metrics) >= seen + 3, 30, "three more passes")
        # ... and nothing was started twice or dropped in them
        assert replicas_running(standby.address) == before
    finally:
        if agents is not None:
            agents.stop()
        for s in servers:
            s.stop()

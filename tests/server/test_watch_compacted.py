"""A watch from history the store no longer keeps, on a real etcd: Kubernetes' 410 Gone.

A slow `tpctl get -w` whose revision was compacted away is told OUT_OF_RANGE,
"resourceVersion N is compacted; list again" (it was INTERNAL), and tpctl's
client reads it as `Expired`, the cue to list again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from aetcd import rpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from controlplane.cli.client import FleetClient
from controlplane.cli.config import Target
from controlplane.cli.errors import CliError
from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tests.support.etcd import EtcdServer, running_etcd
from tests.support.processes import ServerProcess
from tests.support.waiting import wait_until
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc

DEPLOYMENT = """
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {{name: compacted, labels: {{round: "{round}"}}}}
spec:
  model: {{name: chat, runtime: fixture}}
  replicas: 1
  resources: {{gpus: 1, gpuModel: L4, powerKw: 0.3}}
  demand: [{{lat: 48.14, lon: 11.58}}]
"""


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    with running_etcd(tmp_path / "etcd") as server:
        yield server


def serving(address: str) -> bool:
    """Whether the Fleet API answers (on etcd, once this replica leads)."""
    with grpc.insecure_channel(address) as channel:
        check = health_pb2.HealthCheckRequest(service="tokenplane.v1.FleetService")
        status = health_pb2_grpc.HealthStub(channel).Check(check, timeout=2).status
        return status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
def server(tmp_path: Path, etcd: EtcdServer) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server", store=etcd.url)
    wait_until(lambda: serving(proc.address), what="the server serving", ignoring=(grpc.RpcError,))
    yield proc
    proc.stop()


async def compact(etcd: EtcdServer) -> int:
    async with grpc.aio.insecure_channel(etcd.endpoint) as channel:
        kv = rpc.KVStub(channel)
        revision = int(
            (await kv.Range(rpc.RangeRequest(key=b"\0", count_only=True))).header.revision
        )
        await kv.Compact(rpc.CompactionRequest(revision=revision, physical=True))
        return revision


def test_a_watch_from_a_compacted_revision_is_out_of_range_saying_list_again(
    server: ServerProcess, etcd: EtcdServer
) -> None:
    with grpc.insecure_channel(server.address) as channel:
        fleet = fleet_pb2_grpc.FleetServiceStub(channel)
        first = 0
        for round_ in range(3):
            applied = fleet.Apply(
                fleet_pb2.ApplyRequest(
                    resource=to_resource(load_manifests(DEPLOYMENT.format(round=round_))[0])
                ),
                timeout=10,
            )
            first = first or applied.header.revision
        compacted_at = asyncio.run(compact(etcd))
        assert compacted_at > first

        request = fleet_pb2.WatchRequest(kind="ModelDeployment", resource_version=str(first))
        with pytest.raises(grpc.RpcError) as caught:
            list(fleet.Watch(request, timeout=10))
        assert caught.value.code() is grpc.StatusCode.OUT_OF_RANGE, caught.value.details()
        assert f"resourceVersion {first} is compacted; list again" in caught.value.details()

    target = Target(server=server.address, origin="--server", context=None, token=None, tls=False)
    with pytest.raises(CliError) as refused:
        next(iter(FleetClient(target, timeout_s=10).watch("ModelDeployment", "", first)))
    assert refused.value.reason == "Expired"
    assert "Traceback" not in server.output()

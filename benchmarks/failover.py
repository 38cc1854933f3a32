"""Time from a node's death to its replicas Running elsewhere, with real processes.

A server (inline scheduler, embedded store) and two hollow agent processes:
one holds the node that runs a deployment's replicas, the other the nodes
that can take them. SIGKILL the first and time, from the kill, until every
replica is Running on another node; then the same for a frozen agent (SIGSTOP:
a silent partition, found by keepalive pings and the heartbeat deadline).
Kubernetes' default for the same (node-monitor-grace-period 40 s, then pod
eviction) is printed beside it as the baseline.

    python -m benchmarks.failover [--rounds 3] [--replicas 4]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tests.reconciler.test_reconciler_e2e import deployment_yaml, node_yaml
from tests.support.processes import HollowFleet, ServerProcess
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc

KUBERNETES_DEFAULT_S = 40.0  # node-monitor-grace-period before a node is NotReady


def running_on(stub: fleet_pb2_grpc.FleetServiceStub) -> list[str]:
    items = stub.List(fleet_pb2.ListRequest(kind="Replica"), timeout=5).items
    return sorted(i.replica.spec.node_name for i in items if i.replica.status.phase == "Running")


def wait(check: Callable[[], bool], timeout_s: float = 60.0) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError("not within the timeout")
        time.sleep(0.02)
    return time.monotonic() - start


def one_round(workdir: Path, replicas: int, how: signal.Signals) -> float:
    server = ServerProcess(workdir / "cp")
    (workdir / "victim.yaml").write_text(node_yaml("fra-1", "fra", gpus=16))
    (workdir / "others.yaml").write_text(
        "---\n".join(node_yaml(f"par-{i}", "par", gpus=16) for i in range(3))
    )
    victim = HollowFleet(workdir / "victim.yaml", server.address, server.token_file)
    others: HollowFleet | None = None
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            for resource in load_manifests(deployment_yaml("chat", replicas)):
                stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(resource)))
            wait(lambda: running_on(stub) == ["fra-1"] * replicas)
            others = HollowFleet(workdir / "others.yaml", server.address, server.token_file)
            wait(lambda: len(stub.List(fleet_pb2.ListRequest(kind="Node")).items) == 4)
            time.sleep(2)
            start = time.monotonic()
            victim.signal(how)
            wait(lambda: len(running_on(stub)) == replicas and "fra-1" not in running_on(stub))
            return time.monotonic() - start
    finally:
        victim.signal(signal.SIGCONT)
        victim.stop()
        if others is not None:
            others.stop()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=4)
    args = parser.parse_args()
    print(
        "| failure | replicas | time to Running elsewhere (median, max) | "
        "Kubernetes default | ratio |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, how in (
        ("agent killed (SIGKILL)", signal.SIGKILL),
        ("agent frozen (SIGSTOP)", signal.SIGSTOP),
    ):
        times = []
        for i in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                times.append(one_round(Path(tmp) / str(i), args.replicas, how))
        median = statistics.median(times)
        print(
            f"| {name} | {args.replicas} | {median:.2f} s, {max(times):.2f} s | "
            f">= {KUBERNETES_DEFAULT_S:.0f} s | {median / KUBERNETES_DEFAULT_S:.3f} |"
        )


if __name__ == "__main__":
    main()

"""What a real `tokenplane-agent` costs its node when idle: CPU and memory with 4 replicas.

The agent's job on a busy GPU node is to stay out of the way. This starts a
real `tokenplane-server`, a real agent whose node is configured with the given
energy source, applies a ModelDeployment of 4 replicas (the test fixture model
server, tests/agents/model_server.py, as the model), waits until all 4 are
Running, then measures the agent process alone over a window: CPU time used
(user + system) as a share of one core, and its resident memory (RSS and USS).
The replicas' own cost is not counted. The agent heartbeats every second and
health-checks each replica every `healthIntervalSeconds` (5 s by default).

    .venv/bin/python -m benchmarks.agent_cost --seconds 60 --energy static modelled
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import grpc
import psutil

from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tests.agents.support import AgentProcess, kill_recorded_replicas, node_yaml
from tests.support.processes import ServerProcess
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc

ENERGY = {
    "static": """    source: static
    renewableKw: 5
    carbonGPerKwh: 210
    pricePerKwh: 0.2""",
    "modelled": """    source: modelled
    solar: {capacityKwp: 50}
    pricePerKwh: 0.25""",
}

DEPLOYMENT = """
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {name: idle}
spec:
  model: {name: idle-model, runtime: fixture}
  replicas: 4
  resources: {gpus: 1, gpuModel: L4, powerKw: 0.3}
  demand: [{lat: 48.14, lon: 11.58}]
"""


def wait_running(stub: fleet_pb2_grpc.FleetServiceStub, n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = stub.List(fleet_pb2.ListRequest(kind="Replica"), timeout=5).items
        if sum(1 for i in items if i.replica.status.phase == "Running") == n:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{n} replicas not Running within {timeout_s}s")


def measure(energy: str, seconds: float, work: Path) -> dict[str, float]:
    server = ServerProcess(work / "server")
    config = work / f"bench-{energy}.yaml"
    config.write_text(
        node_yaml(f"bench-{energy}", energy=ENERGY[energy]).replace(
            "healthIntervalSeconds: 1", "healthIntervalSeconds: 5"
        )
    )
    state_dir = work / f"agent-{energy}"
    agent = AgentProcess(config, server.address, server.token_file.read_text().strip(), state_dir)
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    (deployment,) = load_manifests(DEPLOYMENT)
                    stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(deployment)), timeout=5)
                    break
                except grpc.RpcError:
                    time.sleep(0.2)
            wait_running(stub, 4, 60)
        time.sleep(3)  # let start-up settle
        proc = psutil.Process(agent.proc.pid)
        before, start = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        after, elapsed = proc.cpu_times(), time.monotonic() - start
        cpu_s = (after.user - before.user) + (after.system - before.system)
        memory = proc.memory_full_info()
        return {
            "cpu_percent_of_one_core": 100 * cpu_s / elapsed,
            "rss_mib": memory.rss / 2**20,
            "uss_mib": memory.uss / 2**20,
            "threads": proc.num_threads(),
        }
    finally:
        agent.stop()
        kill_recorded_replicas(state_dir)
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--energy", nargs="+", choices=sorted(ENERGY), default=["static"])
    args = parser.parse_args()
    print(f"idle tokenplane-agent, 4 replicas, {args.seconds:.0f} s window, heartbeat 1 s")
    header = ("energy source", "CPU % of a core", "RSS MiB", "USS MiB", "threads")
    print(f"{header[0]:<14} {header[1]:>16} {header[2]:>8} {header[3]:>8} {header[4]:>8}")
    for energy in args.energy:
        with tempfile.TemporaryDirectory(prefix="agent-cost-") as work:
            r = measure(energy, args.seconds, Path(work))
        print(
            f"{energy:<14} {r['cpu_percent_of_one_core']:>16.2f} {r['rss_mib']:>8.1f} "
            f"{r['uss_mib']:>8.1f} {r['threads']:>8.0f}"
        )


if __name__ == "__main__":
    main()

"""Garbage in: 20k+ manifests and 5k+ garbled messages against a real server.

What a careless or hostile client can do to the control plane, at volume: a
`tokenplane-server` on loopback (embedded store) gets

- **manifests** through Apply: a deterministic mix of valid ones and hostile
  ones (names of 300 to 70,000 characters, 65+ labels, 300 KB annotations,
  objects over 1 MiB, `inf` and NaN, unknown regions and kinds, nodes with 20
  GPU models or counts beyond int32, empty resources);
- **garbled messages**: valid requests of every method (Apply, Get, List,
  Delete, Watch, Join, Connect) with bytes flipped, truncated or replaced by
  random ones, and Connect streams whose heartbeats the inventory cannot hold;
- **invented GPU models**: one node sending 20k distinct model names, 16 per
  heartbeat (issue 12's probe: RSS went from 149 to 297 MB).

Reported: the count of each status code per phase (INTERNAL and UNKNOWN must be
0: the server's fault), the server's RSS before and after, whether it is still
up and the objects stored first are intact, the tracebacks and "undecodable"
lines in its log. The baseline, from the same run and server, is the rate of
plain valid Gets, beside the rate of each garbage phase.

    python benchmarks/garbage.py [--manifests 20000] [--garbled 5000] [--invented-models 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heartbeats import Proc, rss_kb, wait_for  # the sibling benchmark's process helpers

from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tokenplane.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc, resources_pb2

BIN = Path(sys.executable).parent
SERVER_FAULTS = ("INTERNAL", "UNKNOWN")
MIB = 1024 * 1024

DEPLOYMENT = """
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {{name: {name}, labels: {{bench: garbage}}}}
spec:
  model: {{name: chat, runtime: fixture}}
  replicas: 1
  resources: {{gpus: 1, gpuModel: L4, powerKw: 0.3}}
  demand: [{{lat: 48.14, lon: 11.58}}]
"""
NODE = """
apiVersion: tokenplane.io/v1
kind: Node
metadata: {{name: {name}}}
spec:
  tier: edge
  location: {{lat: 48.1, lon: 11.6, region: eu-central, country: DE}}
  capacity: {{gpus: [{{model: L4, memoryGb: 24, count: 4}}]}}
  power: {{budgetKw: 20}}
"""
SEEDS = ("seed-garbage-a", "seed-garbage-b")


def deployment(name: str) -> resources_pb2.Resource:
    return to_resource(load_manifests(DEPLOYMENT.format(name=name))[0])


def node(name: str) -> resources_pb2.Resource:
    return to_resource(load_manifests(NODE.format(name=name))[0])


def hostile_manifest(rng: random.Random, i: int) -> resources_pb2.Resource:
    """The i-th manifest: about a quarter valid, the rest each wrong in one way."""
    kind = rng.randrange(14)
    message = deployment(f"bench-{i % 500}")
    meta = message.model_deployment.metadata
    spec = message.model_deployment.spec
    if kind <= 3:
        return message  # valid: created, configured or unchanged
    if kind == 4:
        meta.name = "n" * rng.choice([254, 300, 5_000, 70_000])
    elif kind == 5:
        meta.labels.update({f"k{j}": "v" for j in range(65)})
    elif kind == 6:
        meta.annotations["a"] = "y" * 300_000
    elif kind == 7:
        if rng.random() < 0.05:  # over 1 MiB: few, they are heavy to send
            meta.annotations.update({f"b{j}": "z" * (MIB // 4) for j in range(5)})
        else:
            spec.demand[0].lat = float("inf")
    elif kind == 8:
        spec.resources.power_kw = float("nan")
    elif kind == 9:
        spec.demand[0].ClearField("lat")
        spec.demand[0].ClearField("lon")
        spec.demand[0].region = f"nowhere-{i}"
    elif kind == 10:
        message.model_deployment.kind = "Gadget"
    elif kind == 11:
        message = node(f"bench-node-{i % 50}")
        for j in range(20):
            message.node.spec.capacity.gpus.add(model=f"g{i}-{j}", memory_gb=1, count=1)
    elif kind == 12:
        message = node(f"bench-node-{i % 50}")
        message.node.spec.capacity.gpus[0].count = 2**32 - 1
    else:
        message = resources_pb2.Resource()
    return message


def garble(rng: random.Random, data: bytes) -> bytes:
    """Valid bytes made invalid in one of several ways (some still parse: that is fine)."""
    how = rng.randrange(4)
    if how == 0 and data:
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    if how == 1 and data:
        return data[: rng.randrange(len(data))]
    if how == 2:
        return rng.randbytes(rng.randint(1, 300))
    return b"\x0a\x03\xff\xfe\xfd" + data  # a string field that is not UTF-8


class Tally:
    def __init__(self) -> None:
        self.codes: Counter[str] = Counter()
        self.seconds = 0.0

    def record(self, call: Callable[[], Any]) -> None:
        try:
            result = call()
            if isinstance(result, grpc.Future) and hasattr(result, "__iter__"):
                for _ in result:
                    pass
            self.codes["OK"] += 1
        except grpc.RpcError as e:
            self.codes[e.code().name] += 1

    def run(self, calls: Iterable[Callable[[], Any]], workers: int) -> Tally:
        start = time.monotonic()
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(self.record, calls):
                pass
        self.seconds = time.monotonic() - start
        return self

    def summary(self) -> dict[str, Any]:
        total = sum(self.codes.values())
        return {
            "requests": total,
            "per_s": round(total / self.seconds, 1) if self.seconds else 0,
            "codes": dict(self.codes.most_common()),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifests", type=int, default=20_000)
    parser.add_argument("--garbled", type=int, default=5_000)
    parser.add_argument("--invented-models", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="garbage-"))
    server = Proc(
        [
            str(BIN / "tokenplane-server"),
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(work),
            "--scheduler",
            "inline",
        ],
        work / "server.log",
    )
    try:
        if not wait_for(lambda: "listening on" in server.tail() or not server.alive(), 60):
            raise RuntimeError(f"the server did not start:\n{server.tail()}")
        address = server.tail().split("listening on ")[1].split()[0]
        channel = grpc.insecure_channel(
            address, options=[("grpc.max_receive_message_length", 64 * MIB)]
        )
        fleet = fleet_pb2_grpc.FleetServiceStub(channel)
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        bootstrap = (work / "bootstrap-token").read_text().strip()

        for name in SEEDS:
            fleet.Apply(fleet_pb2.ApplyRequest(resource=deployment(name)), timeout=10)
        joined = agents.Join(
            agent_pb2.JoinRequest(bootstrap_token=bootstrap, node=node("seed-garbage-node").node),
            timeout=10,
        )
        node_token = joined.node_token

        def stored() -> list[bytes]:
            seen = []
            for name in SEEDS:
                got = fleet.Get(fleet_pb2.GetRequest(kind="ModelDeployment", name=name), timeout=10)
                body = got.resource.model_deployment
                body.metadata.ClearField("resource_version")
                seen.append(body.metadata.SerializeToString() + body.spec.SerializeToString())
            return seen

        before = stored()
        time.sleep(1.0)
        rss_before_kb = rss_kb(server.popen.pid)

        gets = [fleet_pb2.GetRequest(kind="ModelDeployment", name=SEEDS[0])] * 2_000
        baseline = Tally().run((lambda r=r: fleet.Get(r, timeout=10) for r in gets), args.workers)

        manifests = [hostile_manifest(rng, i) for i in range(args.manifests)]
        applies = Tally().run(
            (
                lambda m=m: fleet.Apply(fleet_pb2.ApplyRequest(resource=m), timeout=30)
                for m in manifests
            ),
            args.workers,
        )

        valid: dict[str, tuple[str, bytes]] = {
            "/tokenplane.v1.FleetService/Apply": (
                "unary",
                fleet_pb2.ApplyRequest(resource=deployment("garbled")).SerializeToString(),
            ),
            "/tokenplane.v1.FleetService/Get": (
                "unary",
                fleet_pb2.GetRequest(kind="Node", name="x").SerializeToString(),
            ),
            "/tokenplane.v1.FleetService/List": (
                "unary",
                fleet_pb2.ListRequest(kind="Node", limit=5).SerializeToString(),
            ),
            "/tokenplane.v1.FleetService/Delete": (
                "unary",
                fleet_pb2.DeleteRequest(
                    kind="ModelDeployment", name="garbled", resource_version="7"
                ).SerializeToString(),
            ),
            "/tokenplane.v1.FleetService/Watch": (
                "stream",
                fleet_pb2.WatchRequest(kind="Node", resource_version="abc").SerializeToString(),
            ),
            "/tokenplane.v1.AgentService/Join": (
                "unary",
                agent_pb2.JoinRequest(
                    bootstrap_token="nope", node=node("garbled").node
                ).SerializeToString(),
            ),
            "/tokenplane.v1.AgentService/Connect": (
                "bidi",
                agent_pb2.AgentMessage(
                    heartbeat=agent_pb2.Heartbeat(
                        gpus=[agent_pb2.GpuUsage(model="L4", total=4, free=2)]
                    )
                ).SerializeToString(),
            ),
        }
        hello = agent_pb2.AgentMessage(
            hello=agent_pb2.Hello(node_name="seed-garbage-node")
        ).SerializeToString()
        metadata = (("authorization", f"Bearer {node_token}"),)

        def garbled_call(method: str, data: bytes) -> Callable[[], Any]:
            shape = valid[method][0]
            if shape == "unary":
                return lambda: channel.unary_unary(method)(data, timeout=10)
            if shape == "stream":
                return lambda: channel.unary_stream(method)(data, timeout=0.5)
            return lambda: channel.stream_stream(method)(
                iter([hello, data]), metadata=metadata, timeout=10
            )

        methods = sorted(valid)
        garbled = [
            (method, garble(rng, valid[method][1]))
            for method in (methods[i % len(methods)] for i in range(args.garbled))
        ]
        rss_after_manifests_kb = rss_kb(server.popen.pid)
        garbage = Tally().run((garbled_call(m, d) for m, d in garbled), args.workers)
        rss_after_garbled_kb = rss_kb(server.popen.pid)

        # The probe of issue 12: one node inventing 20k GPU model names, 16 a heartbeat.
        def invented(batch: int) -> Callable[[], Any]:
            beat = agent_pb2.AgentMessage(
                heartbeat=agent_pb2.Heartbeat(
                    gpus=[
                        agent_pb2.GpuUsage(model=f"invented-{batch}-{i}", total=1)
                        for i in range(16)
                    ]
                )
            ).SerializeToString()
            return lambda: channel.stream_stream("/tokenplane.v1.AgentService/Connect")(
                iter([hello, beat]), metadata=metadata, timeout=10
            )

        models = Tally().run((invented(b) for b in range(args.invented_models // 16)), 1)

        time.sleep(1.0)
        rss_after_kb = rss_kb(server.popen.pid)
        alive = server.alive()
        intact = alive and stored() == before
        log = (work / "server.log").read_text(errors="replace")
        report = {
            "baseline_valid_gets": baseline.summary(),
            "manifests": applies.summary(),
            "garbled_messages": garbage.summary(),
            "invented_gpu_models": {"models": args.invented_models, **models.summary()},
            "server_faults": sum(
                t.codes[c] for t in (applies, garbage, models, baseline) for c in SERVER_FAULTS
            ),
            # After the manifests it holds the ~500 valid deployments they created, and
            # their events: what any client's valid work costs, the baseline for the rest.
            "rss_mb": {
                "before": round(rss_before_kb / 1024, 1),
                "after_manifests": round(rss_after_manifests_kb / 1024, 1),
                "after_garbled": round(rss_after_garbled_kb / 1024, 1),
                "after_invented_models": round(rss_after_kb / 1024, 1),
            },
            "server_up": alive,
            "seeded_objects_intact": intact,
            "log": {
                "tracebacks": log.count("Traceback"),
                "undecodable_lines": log.count("undecodable"),
                "bytes": len(log),
            },
        }
        print(json.dumps(report, indent=2))
        return 0 if report["server_faults"] == 0 and alive and intact else 1
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

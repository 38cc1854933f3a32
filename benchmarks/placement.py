"""Placement speed: a fresh deployment's decision, and re-placing one lost replica, by fleet size.

Run: `.venv/bin/python benchmarks/placement.py [--busy 1]`. One core: BLAS
threads are capped at one and the process is pinned to one CPU; `--busy N`
runs N CPU hogs beside it (on the same core first), since a result on a quiet
machine is one sample.

- **fresh**: each call places a new 8-replica deployment with 100 demand
  points (a market's or the world's cities, SLO 50-150 ms) on a synthetic
  fleet, so every call computes its own RTT matrix: the cold case. Capacity is
  carried from call to call. Target (issue 10): p99 <= 20 ms at 10,000 nodes.
- **re-place**: deployments already placed lose one replica each; each call
  places one replacement with the other seven kept, on the same snapshot (the
  reconciler's case after a node is lost), for market-sized demand (the
  synthetic requests' 1-6 metros) and for 100 points. Target: >= 2,000
  replicas/s.

Beside each, in the same run, the floor any per-user placement pays: the
RTTs from the feasible nodes to every demand point and each point's nearest
node (fresh), or one pass over the candidates' cached RTTs (re-place).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import multiprocessing  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from fleetgen import METROS, synthetic_requests, synthetic_snapshot  # noqa: E402

from controlplane.scheduler import FleetIndex, FleetState, PlacementRequest, place  # noqa: E402
from controlplane.scheduler.pipeline import (  # noqa: E402
    DEFAULT_CHAIN,
    build_context,
    feasibility,
)
from controlplane.scheduler.request import Demand  # noqa: E402

REPLICAS = 8
POINTS = 100


def with_demand(requests: list[PlacementRequest], seed: int) -> list[PlacementRequest]:
    """The requests with 100 demand points each: around a few metros, or the whole world."""
    rng = np.random.default_rng(seed)
    out = []
    for r in requests:
        world = rng.random() < 0.5
        metros = rng.choice(len(METROS), size=len(METROS) if world else 6, replace=False)
        centre = rng.choice(metros, size=POINTS)
        points = tuple(
            Demand(
                f"p{i}",
                float(rng.uniform(0.1, 1.0)),
                float(np.clip(METROS[m][2] + rng.normal(0, 1.0), -89, 89)),
                float(METROS[m][3] + rng.normal(0, 1.0)),
            )
            for i, m in enumerate(centre)
        )
        slo = float(rng.choice([50.0, 100.0, 150.0]))
        out.append(dataclasses.replace(r, demand=points, latency_slo_ms=slo, min_sites=2))
    return out


def floor_ms(snapshot: object, index: FleetIndex, request: PlacementRequest) -> float:
    """RTTs from the feasible nodes to every point, and each point's nearest: the least work."""
    t = time.thread_time()
    ctx = build_context(index, request)
    rows = np.flatnonzero(feasibility(ctx, DEFAULT_CHAIN).mask)
    rtt = index.rtt_rows(request.demand, rows).rtt_ms
    if rtt.size:
        np.argmin(rtt, axis=0)
    return (time.thread_time() - t) * 1e3


def bench_fresh(n_nodes: int, n_calls: int) -> dict[str, float]:
    snapshot = synthetic_snapshot(n_nodes, seed=n_nodes)
    requests = with_demand(
        [r for r, _ in synthetic_requests(n_calls + 10, seed=n_nodes + 1)], seed=n_nodes + 2
    )
    fleet = FleetState.from_snapshot(snapshot)
    for r in requests[:10]:  # warm up NumPy's code paths
        place(snapshot, r, REPLICAS, index=FleetIndex(snapshot), fleet=fleet.copy())
    index = FleetIndex(snapshot)
    ours, floor, placed = [], [], 0
    for r in requests[10:]:
        floor.append(floor_ms(snapshot, FleetIndex(snapshot), r))
        t = time.thread_time()
        result = place(snapshot, r, REPLICAS, index=index, fleet=fleet)
        ours.append((time.thread_time() - t) * 1e3)
        placed += len(result) if isinstance(result, list) else len(result.placed)
    return {
        "nodes": n_nodes,
        "calls": n_calls,
        "replicas": placed,
        "p50": float(np.percentile(ours, 50)),
        "p99": float(np.percentile(ours, 99)),
        "floor_p50": float(np.percentile(floor, 50)),
        "floor_p99": float(np.percentile(floor, 99)),
    }


def bench_replace(
    n_nodes: int, n_deployments: int, rounds: int, world_demand: bool
) -> dict[str, float]:
    snapshot = synthetic_snapshot(n_nodes, seed=n_nodes)
    requests = [r for r, _ in synthetic_requests(n_deployments, seed=n_nodes + 3)]
    if world_demand:
        requests = with_demand(requests, seed=n_nodes + 4)
    requests = [dataclasses.replace(r, min_sites=2) for r in requests]
    index = FleetIndex(snapshot)
    fleet = FleetState.from_snapshot(snapshot)
    running: list[tuple[PlacementRequest, list[str]]] = []
    for r in requests:
        result = place(snapshot, r, REPLICAS, index=index, fleet=fleet)
        if isinstance(result, list):
            running.append((r, [p.node for p in result]))
    rng = np.random.default_rng(n_nodes)
    cpu = floor_cpu = 0.0
    done = 0
    for _ in range(rounds):
        for r, nodes in running:
            kept = list(nodes)
            kept.pop(int(rng.integers(len(kept))))
            t = time.thread_time()
            result = place(snapshot, r, 1, existing=kept, index=index, fleet=fleet.copy())
            cpu += time.thread_time() - t
            done += isinstance(result, list)
            t = time.thread_time()
            ctx = build_context(index, r)
            rows = np.flatnonzero(feasibility(ctx, DEFAULT_CHAIN).mask)
            np.argmin(index.rtt_rows(r.demand, rows).rtt_ms, axis=0)
            floor_cpu += time.thread_time() - t
    calls = rounds * len(running)
    return {
        "nodes": n_nodes,
        "calls": calls,
        "placed": done,
        "per_s": calls / cpu,
        "floor_per_s": calls / floor_cpu,
    }


def hog() -> None:
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="fresh deployments per size")
    parser.add_argument("--sizes", default="1000,10000,50000", help="fleet sizes")
    parser.add_argument("--busy", type=int, default=0, help="CPU hogs running beside")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    hogs = [multiprocessing.Process(target=hog, daemon=True) for _ in range(args.busy)]
    for h in hogs:
        h.start()
        if hasattr(os, "sched_setaffinity") and h.pid is not None:
            os.sched_setaffinity(h.pid, {0})
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        print(
            f"## Fresh: {REPLICAS} replicas, {POINTS} demand points a deployment "
            f"(one core, {args.busy} hog(s) beside)\n"
        )
        print(
            "| nodes | calls | replicas placed | p50 ms/call | p99 ms/call "
            "| floor p50 ms | floor p99 ms | p99 / floor p99 |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            r = bench_fresh(n, args.calls if n <= 10_000 else max(20, args.calls // 5))
            print(
                f"| {n:,} | {r['calls']} | {r['replicas']:,} | {r['p50']:.1f} | "
                f"{r['p99']:.1f} | {r['floor_p50']:.1f} | {r['floor_p99']:.1f} | "
                f"{r['p99'] / r['floor_p99']:.1f}x |"
            )
        print("\n## Re-place one lost replica, the other seven kept (same snapshot)\n")
        print("| nodes | demand | calls | replicas/s (CPU) | floor calls/s | ours / floor |")
        print("|---:|---|---:|---:|---:|---:|")
        for n in sizes:
            for world in (False, True):
                r = bench_replace(n, 50, 4, world)
                demand = f"{POINTS} points" if world else "a market (1-6 metros)"
                print(
                    f"| {n:,} | {demand} | {r['calls']} | {r['per_s']:,.0f} | "
                    f"{r['floor_per_s']:,.0f} | {r['per_s'] / r['floor_per_s']:.2f} |"
                )
        print(
            f"\nLoad average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs. Targets: "
            "fresh p99 <= 20 ms and re-place >= 2,000 replicas/s at 10,000 nodes."
        )
    finally:
        for h in hogs:
            h.terminate()


if __name__ == "__main__":
    main()

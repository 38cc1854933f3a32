"""Placement speed: decision latency per replica and replicas placed per second, by fleet size.

Run: `.venv/bin/python benchmarks/placement.py` (add `--ray` to also time the
same calls through a SchedulerActor). Each call places a new deployment (1-8
replicas, its own demand, SLO and constraints) on a synthetic fleet, so every
call computes its deployment's demand RTT vector: the cold case. Capacity is
carried from call to call, as the actor does between snapshots. One core:
BLAS threads are capped at one and the process is pinned to one CPU.
Anchors: the Kubernetes scheduler's CI requires 680-810 pods/s at 5,000 nodes;
Nomad's C2M run placed about 1,500 allocations/s with 3 schedulers.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from fleetgen import synthetic_requests, synthetic_snapshot  # noqa: E402

from controlplane.scheduler import FleetIndex, FleetState, Unschedulable, place  # noqa: E402

SIZES = (1_000, 10_000, 50_000)


def bench(n_nodes: int, n_calls: int, replicas: bool) -> dict[str, float]:
    """Time `n_calls` placements on a fleet of `n_nodes`; `replicas` False: one replica a call."""
    snapshot = synthetic_snapshot(n_nodes, seed=n_nodes)
    t0 = time.perf_counter()
    index = FleetIndex(snapshot)
    index_ms = (time.perf_counter() - t0) * 1e3
    fleet = FleetState.from_snapshot(snapshot)
    calls = synthetic_requests(n_calls, seed=n_nodes + 1)
    for request, k in calls[:20]:  # warm up NumPy's code paths
        place(snapshot, request, k, index=FleetIndex(snapshot), fleet=fleet.copy())
    per_replica_ms: list[float] = []
    placed = unschedulable = 0
    cpu, start = 0.0, time.perf_counter()
    for request, k in calls:
        n = k if replicas else 1
        t = time.thread_time()
        result = place(snapshot, request, n, index=index, fleet=fleet)
        elapsed = time.thread_time() - t
        cpu += elapsed
        done = len(result.placed) if isinstance(result, Unschedulable) else len(result)
        unschedulable += isinstance(result, Unschedulable)
        placed += done
        per_replica_ms += [elapsed * 1e3 / max(done, 1)] * max(done, 1)
    wall = time.perf_counter() - start
    lat = np.array(per_replica_ms)
    return {
        "nodes": n_nodes, "calls": n_calls, "replicas": placed, "unschedulable": unschedulable,
        "per_s": placed / cpu, "wall_per_s": placed / wall,
        "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
        "index_ms": index_ms,
    }


def bench_ray(n_nodes: int, n_calls: int) -> dict[str, float]:
    """The same calls through one SchedulerActor: snapshot by object ref, one round trip each."""
    from controlplane.scheduler import RemoteScheduler, connect_ray

    connect_ray(num_cpus=2)
    snapshot = synthetic_snapshot(n_nodes, seed=n_nodes)
    scheduler = RemoteScheduler()
    t0 = time.perf_counter()
    scheduler.set_snapshot(snapshot)
    set_ms = (time.perf_counter() - t0) * 1e3
    calls = synthetic_requests(n_calls, seed=n_nodes + 1)
    placed, per_call_ms = 0, []
    start = time.perf_counter()
    for request, k in calls:
        t = time.perf_counter()
        result = scheduler.place(request, k)
        per_call_ms.append((time.perf_counter() - t) * 1e3)
        placed += len(result.placed) if isinstance(result, Unschedulable) else len(result)
    wall = time.perf_counter() - start
    return {"nodes": n_nodes, "replicas": placed, "per_s": placed / wall,
            "p50_call_ms": float(np.percentile(per_call_ms, 50)),
            "p99_call_ms": float(np.percentile(per_call_ms, 99)), "set_snapshot_ms": set_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="deployments placed per size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is shown")
    parser.add_argument("--ray", action="store_true", help="also time calls through Ray")
    args = parser.parse_args()
    print("## Placement speed (one core, cold: a new deployment each call)\n")
    print("| nodes | calls | replicas placed | replicas/s (CPU) | replicas/s (wall) "
          "| p50 ms/replica | p99 ms/replica | p50 ms, 1-replica call | p99 ms, 1-replica call "
          "| index build ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n_nodes in SIZES:
        runs = sorted((bench(n_nodes, args.calls, replicas=True) for _ in range(args.repeat)),
                      key=lambda r: r["per_s"])
        batch = runs[len(runs) // 2]
        singles = sorted((bench(n_nodes, args.calls, replicas=False)
                          for _ in range(args.repeat)), key=lambda r: r["p99_ms"])
        single = singles[len(singles) // 2]
        print(f"| {n_nodes:,} | {batch['calls']} | {batch['replicas']:,} | "
              f"{batch['per_s']:,.0f} | {batch['wall_per_s']:,.0f} | {batch['p50_ms']:.2f} | "
              f"{batch['p99_ms']:.2f} | {single['p50_ms']:.2f} | {single['p99_ms']:.2f} | "
              f"{batch['index_ms']:.1f} |")
    print(f"\nLoad average during the run: {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs; median of {args.repeat} runs.")
    print("\nAnchors: Kubernetes scheduler CI 680-810 pods/s at 5,000 nodes; Nomad C2M about "
          "1,500/s with 3 schedulers. Target: >= 2,000 replicas/s, p99 < 5 ms at 10,000 nodes.")
    if args.ray:
        r = bench_ray(10_000, args.calls)
        print("\n## Through one Ray actor (10,000 nodes; a round trip per call)\n")
        print("| nodes | replicas/s | p50 ms/call | p99 ms/call | set_snapshot ms |")
        print("|---:|---:|---:|---:|---:|")
        print(f"| {r['nodes']:,} | {r['per_s']:,.0f} | {r['p50_call_ms']:.2f} | "
              f"{r['p99_call_ms']:.2f} | {r['set_snapshot_ms']:.0f} |")


if __name__ == "__main__":
    main()

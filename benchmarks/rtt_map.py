"""What measured RTTs cost the server: the heartbeat's hot path and the scheduler's snapshot.

Each figure is beside its baseline from the same run, on the same table:
- a heartbeat with no RTT samples (the usual case) against one carrying a
  probe round's samples (a few times a minute per node);
- `InventoryTable.snapshot()` of N nodes with no measured RTTs against one
  where every node has agent samples to `--landmarks` landmarks and the
  operator's matrix gives rows for every node's region.

    .venv/bin/python -m benchmarks.rtt_map --nodes 10000 --landmarks 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from controlplane.inventory import InventoryTable
from controlplane.regions import alias_index, load_regions
from controlplane.resources import Node
from controlplane.rttmatrix import RttMatrix
from tokenplane.v1 import agent_pb2


def _node(i: int) -> Node:
    return Node.model_validate(
        {
            "metadata": {"name": f"node-{i}"},
            "spec": {
                "tier": "edge",
                "location": {"lat": 48, "lon": 11, "region": f"r{i % 20}", "country": "DE"},
                "capacity": {"gpus": [{"model": "L4", "memoryGb": 24, "count": 4}]},
                "power": {"budgetKw": 20},
            },
        }
    )


def _best_us(run: Callable[[], object], repeat: int, number: int) -> float:
    """Best of `repeat` timings of `number` calls, in microseconds a call."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            run()
        times.append((time.perf_counter() - started) / number * 1e6)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--landmarks", type=int, default=5)
    args = parser.parse_args()

    regions = load_regions(None)
    names = list(regions)[: args.landmarks]
    table = InventoryTable(interval_s=1.0)
    table.set_regions(regions, probe_interval_s=20)
    for i in range(args.nodes):
        table.connect(table.upsert(_node(i)), 0.0)
    plain = agent_pb2.Heartbeat(it_draw_kw=3, gpus=[agent_pb2.GpuUsage(model="L4", total=4)])
    probed = agent_pb2.Heartbeat()
    probed.CopyFrom(plain)
    probed.rtt_samples.extend(
        agent_pb2.RttSample(target=n, rtt_ms=10.0 + k, method="tcp-connect")
        for k, n in enumerate(names)
    )
    slot = table.slot("node-7")
    beat_plain = _best_us(lambda: table.heartbeat(slot, plain, 1.0), 5, 20_000)
    beat_probed = _best_us(lambda: table.heartbeat(slot, probed, 1.0), 5, 20_000)
    print(f"heartbeat, no samples:            {beat_plain:7.2f} us")
    print(
        f"heartbeat, {len(names)} RTT samples:        {beat_probed:7.2f} us"
        f"  ({beat_probed / beat_plain:.2f}x)"
    )

    snap_plain_ms = _best_us(table.snapshot, 5, 3) / 1000
    for i in range(args.nodes):
        table.heartbeat(table.slot(f"node-{i}"), probed, 1.0)
    aliases = alias_index(regions)
    far = [n for n in aliases.values() if n not in names][:3]
    table.set_rtt_matrix(RttMatrix({f"r{k}": {n: 90.0 for n in far} for k in range(20)}))
    rebuild_ms = _best_us(table.snapshot, 1, 1) / 1000  # the matrix changed: every row merged
    measured = table.snapshot().measured_rtt_ms
    per_node = statistics.mean(len(v) for v in measured.values())
    # Steady state: a node reports a round every 20 s, so a snapshot taken every second
    # finds 1/20 of the rows with new samples.
    dirty = max(1, args.nodes // 20)
    timings = []
    for r in range(5):
        for i in range(r * dirty, (r + 1) * dirty):
            table.heartbeat(table.slot(f"node-{i % args.nodes}"), probed, 1.0)
        timings.append(_best_us(table.snapshot, 1, 1) / 1000)
    snap_rtt_ms = min(timings)
    print(f"snapshot of {args.nodes} nodes, no RTTs:  {snap_plain_ms:7.2f} ms")
    print(
        f"snapshot, {len(measured)} nodes x {per_node:.0f} RTTs, {dirty} with new samples: "
        f"{snap_rtt_ms:7.2f} ms  ({snap_rtt_ms / snap_plain_ms:.2f}x)"
    )
    print(
        f"snapshot after a new matrix (every row merged): {rebuild_ms:7.2f} ms"
        f"  ({rebuild_ms / snap_plain_ms:.2f}x)"
    )


if __name__ == "__main__":
    main()

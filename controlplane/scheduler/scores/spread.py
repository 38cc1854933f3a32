"""Score `spread`: how much of this deployment already sits in the node's failure domains.

For fault tolerance, a replica should not share a node, or a region, with the
deployment's other replicas if it can help it. The figure is the share of the
deployment's replicas (existing plus requested) already on the node, averaged
with the share already in its region: (on node + in region) / (2 * total), in
[0, 1); lower is better. It rises as the call binds replicas, so it is
recomputed for every replica; its range is fixed at [0, 1]. Its per-replica
increments grow with the count, so the penalty is convex, and greedy choice
keeps the deployment balanced.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import BoolArray, FloatArray, IntArray
from controlplane.scheduler.framework import Better, PlacementContext

NAME = "spread"


def spread_share(
    node_replicas: IntArray, region_replicas_at_node: IntArray, total_replicas: int
) -> FloatArray:
    """(replicas on the node + replicas in its region) / (2 * total replicas)."""
    if total_replicas <= 0:
        return np.zeros(node_replicas.shape)
    return (node_replicas + region_replicas_at_node) / (2.0 * total_replicas)


class Spread:
    name = NAME
    better = Better.LOWER
    per_replica = True

    def __call__(self, ctx: PlacementContext) -> FloatArray:
        s, rows = ctx.spread, ctx.rows
        return spread_share(
            s.node_replicas[rows],
            s.region_replicas[ctx.index.region_code[rows]],
            s.total_replicas,
        )

    def bounds(
        self, ctx: PlacementContext, values: FloatArray, feasible: BoolArray
    ) -> tuple[float, float]:
        return 0.0, 1.0

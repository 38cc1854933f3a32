"""Score `latency`: the demand-weighted expected RTT from a node to the deployment's users, ms.

Lower is better. The vector is computed once per deployment (see
`FleetIndex.expected_rtt_ms`): from great-circle distance, or from measured
RTTs where agents report them, weighted by each demand point's share.
"""

from __future__ import annotations

from controlplane.inventory.snapshot import BoolArray, FloatArray
from controlplane.scheduler.framework import Better, PlacementContext, min_max

NAME = "latency"


class Latency:
    name = NAME
    better = Better.LOWER
    per_replica = False

    def __call__(self, ctx: PlacementContext) -> FloatArray:
        return ctx.rtt_ms[ctx.rows]

    def bounds(
        self, ctx: PlacementContext, values: FloatArray, feasible: BoolArray
    ) -> tuple[float, float]:
        return min_max(values, feasible)

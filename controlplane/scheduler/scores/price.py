"""Score `price`: the price of a kWh at the node's site now, in the fleet's currency per kWh.

Lower is better.
"""

from __future__ import annotations

from controlplane.inventory.snapshot import BoolArray, FloatArray
from controlplane.scheduler.framework import Better, PlacementContext, min_max

NAME = "price"


class Price:
    name = NAME
    better = Better.LOWER
    per_replica = False

    def __call__(self, ctx: PlacementContext) -> FloatArray:
        return ctx.snapshot.price_per_kwh[ctx.rows]

    def bounds(
        self, ctx: PlacementContext, values: FloatArray, feasible: BoolArray
    ) -> tuple[float, float]:
        return min_max(values, feasible)

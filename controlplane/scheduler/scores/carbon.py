"""Score `carbon`: grid carbon of the marginal kWh one more replica would draw, gCO2/kWh.

If the site's renewable surplus (renewable_kw - it_draw_kw, clipped at 0)
covers the replica's power_kw, the marginal kWh is renewable and counted as
≈ 0 g (on-site generation has no combustion emissions); if it covers none, the
replica draws from the grid at the zone's intensity now. When it covers part,
the replica pays grid carbon on the part it does not cover, so the figure is
grid * (1 - renewable share). All on the IT basis: PUE is left out, since it
scales every site's kWh alike. Lower is better. The range runs from the lowest
marginal figure to the highest grid figure among feasible nodes, because a
site's marginal figure rises towards its grid figure as replicas use up its
surplus.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import BoolArray, FloatArray
from controlplane.scheduler.framework import Better, PlacementContext, min_max
from controlplane.scheduler.scores.renewable import renewable_share

NAME = "carbon"


def marginal_carbon_g_per_kwh(
    carbon_g_per_kwh: FloatArray,
    renewable_kw: FloatArray,
    it_draw_kw: FloatArray,
    power_kw: float,
) -> FloatArray:
    """gCO2 per kWh of one more replica: grid intensity on the share the surplus leaves."""
    share = renewable_share(renewable_kw, it_draw_kw, power_kw)
    return np.asarray(carbon_g_per_kwh * (1.0 - share))


class Carbon:
    name = NAME
    better = Better.LOWER
    per_replica = True

    def __call__(self, ctx: PlacementContext) -> FloatArray:
        snap, rows = ctx.snapshot, ctx.rows
        return marginal_carbon_g_per_kwh(
            snap.carbon_g_per_kwh[rows],
            snap.renewable_kw[rows],
            ctx.fleet.it_draw_kw[rows],
            ctx.request.power_kw,
        )

    def bounds(
        self, ctx: PlacementContext, values: FloatArray, feasible: BoolArray
    ) -> tuple[float, float]:
        lo, _ = min_max(values, feasible)
        _, hi = min_max(ctx.snapshot.carbon_g_per_kwh[ctx.rows], feasible)
        return lo, hi

"""Carbon of the marginal kWh one more replica would draw at a site, gCO2/kWh.

If the site's renewable surplus (renewable_kw - it_draw_kw, clipped at 0)
covers the replica's power_kw, the marginal kWh is renewable and counted as
≈ 0 g (on-site generation has no combustion emissions); if it covers none, the
replica draws from the grid at the zone's intensity now. When it covers part,
the replica pays grid carbon on the part it does not cover, so the figure is
grid * (1 - renewable share). All on the IT basis: PUE is left out, since it
scales every site's kWh alike. A site's marginal figure rises towards its
grid figure as replicas use up its surplus.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import FloatArray
from controlplane.scheduler.scores.renewable import renewable_share


def marginal_carbon_g_per_kwh(
    carbon_g_per_kwh: FloatArray,
    renewable_kw: FloatArray,
    it_draw_kw: FloatArray,
    power_kw: float,
) -> FloatArray:
    """gCO2 per kWh of one more replica: grid intensity on the share the surplus leaves."""
    share = renewable_share(renewable_kw, it_draw_kw, power_kw)
    return np.asarray(carbon_g_per_kwh * (1.0 - share))

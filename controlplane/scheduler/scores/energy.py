"""The energy cost of one more replica at a site, per hour, in the deployment's chosen unit.

Placement minimises it once every demand point that can be served within the
SLO is. The unit is physical, so costs add up over replicas and compare across
hours: `carbon` is gCO2 per hour of the replica's draw at the marginal carbon
of the site (on-site renewable surplus first, the grid for the rest); `price`
is $ per hour of the grid energy it draws (the surplus is taken as free);
`cost` is that price plus the carbon priced at `carbon_price_usd_per_tonne`.
A replica that declares no power is costed per kWh (as if it drew 1 kW), so
the cleanest site still wins.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import FloatArray
from controlplane.scheduler.scores.carbon import marginal_carbon_g_per_kwh
from controlplane.scheduler.scores.renewable import renewable_share

OBJECTIVES = ("carbon", "price", "cost")
UNITS = {"carbon": "gCO2/h", "price": "$/h", "cost": "$/h"}
G_PER_TONNE = 1e6


def carbon_g_per_h(
    carbon_g_per_kwh: FloatArray, renewable_kw: FloatArray, it_draw_kw: FloatArray, power_kw: float
) -> FloatArray:
    """gCO2 per hour one more replica of `power_kw` adds to each site's emissions."""
    marginal = marginal_carbon_g_per_kwh(carbon_g_per_kwh, renewable_kw, it_draw_kw, power_kw)
    return np.asarray(marginal * (power_kw if power_kw > 0 else 1.0))


def replica_cost_per_h(
    objective: str,
    carbon_price_usd_per_tonne: float,
    *,
    carbon_g_per_kwh: FloatArray,
    renewable_kw: FloatArray,
    price_per_kwh: FloatArray,
    it_draw_kw: FloatArray,
    power_kw: float,
) -> FloatArray:
    """Cost per hour of one more replica on each site whose draw is `it_draw_kw` now."""
    if objective not in OBJECTIVES:
        raise ValueError(f"energy objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
    carbon = carbon_g_per_h(carbon_g_per_kwh, renewable_kw, it_draw_kw, power_kw)
    if objective == "carbon":
        return carbon
    grid_kw = (power_kw if power_kw > 0 else 1.0) * (
        1.0 - renewable_share(renewable_kw, it_draw_kw, power_kw)
    )
    price = np.asarray(price_per_kwh * grid_kw)
    if objective == "price":
        return price
    return np.asarray(price + carbon * carbon_price_usd_per_tonne / G_PER_TONNE)

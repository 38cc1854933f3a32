"""The share of one more replica's power that a site's renewable surplus covers.

The surplus is what on-site renewables produce beyond what the site already
draws: max(renewable_kw - it_draw_kw, 0). The share is min(surplus / power_kw,
1), in [0, 1]. It falls as replicas bind, because each takes its kW out of the
surplus.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import FloatArray


def surplus_kw(renewable_kw: FloatArray, it_draw_kw: FloatArray) -> FloatArray:
    """Renewable power not yet used by the site, kW, never negative."""
    return np.maximum(np.asarray(renewable_kw) - it_draw_kw, 0.0)


def renewable_share(
    renewable_kw: FloatArray, it_draw_kw: FloatArray, power_kw: float
) -> FloatArray:
    """Share of `power_kw` the surplus covers; for a 0 kW replica, 1 wherever there is surplus."""
    surplus = surplus_kw(renewable_kw, it_draw_kw)
    if power_kw <= 0:
        return (surplus > 0).astype(np.float64)
    return np.minimum(surplus, power_kw) / power_kw

"""Filter `power`: a site's power headroom (budget kW minus IT draw kW) must cover one more replica.

Headroom comes from the call's local capacity, so each bound replica's kW is
already taken when the next one is filtered, and a site over its budget
(negative headroom, as under curtailment) takes nothing, not even a 0 kW
replica. Shedding replicas from such sites is re-planning's job.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import BoolArray, FloatArray
from controlplane.scheduler.framework import PlacementContext

NAME = "power"
REASON = "power headroom"


def power_mask(headroom_kw: FloatArray, power_kw: float) -> BoolArray:
    """Nodes whose headroom is at least `power_kw` (and not negative)."""
    return np.asarray((headroom_kw >= power_kw) & (headroom_kw >= 0))


class Power:
    name = NAME
    reason = REASON
    per_replica = True
    evicts = False

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        return power_mask(ctx.fleet.headroom_kw, ctx.request.power_kw)

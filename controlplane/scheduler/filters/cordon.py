"""Filter `cordon`: nodes an operator marked unschedulable take no new replicas.

As with `kubectl cordon`, replicas already there stay (this filter does not
evict); `drain` is how an operator moves them.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import BoolArray
from controlplane.scheduler.framework import PlacementContext

NAME = "cordon"
REASON = "cordoned"


class Cordon:
    name = NAME
    reason = REASON
    per_replica = False
    evicts = False

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        return np.logical_not(ctx.snapshot.unschedulable)

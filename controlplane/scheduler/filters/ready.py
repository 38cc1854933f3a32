"""Filter `ready`: only nodes whose Ready condition holds (stream up, heartbeats fresh).

A node that is not Ready cannot be told to start anything, and its replicas are
re-placed, so it is both rejected here and evicted by re-planning.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import BoolArray
from controlplane.scheduler.framework import PlacementContext

NAME = "ready"
REASON = "not ready"


class Ready:
    name = NAME
    reason = REASON
    per_replica = False
    evicts = True

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        return np.asarray(ctx.snapshot.ready, dtype=np.bool_)

"""Filter `privacy`: `privacy: edge-only` keeps a deployment's data on edge nodes.

Edge nodes sit on the customer's premises or network, so requests (and what
they contain) never reach a shared factory or a cloud region.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import TIERS, BoolArray
from controlplane.scheduler.framework import PlacementContext

NAME = "privacy"
REASON = "privacy"
EDGE = TIERS.index("edge")


def privacy_mask(tier: npt.NDArray[np.int8], edge_only: bool) -> BoolArray:
    """Edge nodes if `edge_only`, else every node."""
    if not edge_only:
        return np.ones(tier.shape, dtype=np.bool_)
    return np.asarray(tier == EDGE)


class Privacy:
    name = NAME
    reason = REASON
    per_replica = False
    evicts = True

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        return privacy_mask(ctx.snapshot.tier, ctx.request.edge_only)

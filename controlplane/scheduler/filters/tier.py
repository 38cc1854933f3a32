"""Filter `tier`: a deployment may name the tiers (edge, factory, cloud) it accepts.

An empty list accepts every tier.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import TIERS, BoolArray
from controlplane.scheduler.framework import PlacementContext

NAME = "tier"
REASON = "tier"


def tier_mask(tier: npt.NDArray[np.int8], allowed: Sequence[str]) -> BoolArray:
    """Nodes whose tier (an index into TIERS) is one of `allowed`; all if `allowed` is empty."""
    if not allowed:
        return np.ones(tier.shape, dtype=np.bool_)
    codes = [TIERS.index(t) for t in allowed if t in TIERS]
    return np.isin(tier, codes)


class Tier:
    name = NAME
    reason = REASON
    per_replica = False
    evicts = True

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        return tier_mask(ctx.snapshot.tier, ctx.request.tiers)

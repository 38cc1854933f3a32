"""Filter `residency`: data residency, as the regions and countries a deployment allows.

A node passes if its region is allowed (or no regions are listed) and its
country is allowed (or no countries are listed). Residency is the law, so a
replica on a node that no longer satisfies it is moved.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from controlplane.inventory.snapshot import BoolArray, IntArray, StrArray
from controlplane.scheduler.framework import PlacementContext

NAME = "residency"
REASON = "residency"


def residency_mask(
    region_code: IntArray,
    allowed_region_codes: IntArray | None,
    country: StrArray,
    allowed_countries: Sequence[str],
) -> BoolArray:
    """Nodes in an allowed region and an allowed country; None or empty means any."""
    mask = np.ones(region_code.shape, dtype=np.bool_)
    if allowed_region_codes is not None:
        mask &= np.isin(region_code, allowed_region_codes)
    if allowed_countries:
        mask &= np.isin(country, list(allowed_countries))
    return mask


class Residency:
    name = NAME
    reason = REASON
    per_replica = False
    evicts = True

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        regions = ctx.request.regions
        codes = ctx.index.region_of(regions) if regions else None
        return residency_mask(
            ctx.index.region_code,
            codes,
            ctx.snapshot.country,
            ctx.request.countries,
        )

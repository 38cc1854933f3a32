"""Filter `latency_slo`: the demand-weighted expected RTT from a node must be within the SLO.

The expected RTT is the latency score's own vector (computed once per
deployment), so the SLO bounds the same figure the score minimises. A
deployment without an SLO or without demand passes everywhere. Users spread
over continents are best served by one deployment per market, each with its
own demand and SLO. A node that drifts out of the SLO keeps its replicas;
re-planning moves them when the gain is worth it.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import BoolArray, FloatArray
from controlplane.scheduler.framework import PlacementContext

NAME = "latency_slo"
REASON = "latency SLO"


def latency_slo_mask(rtt_ms: FloatArray, latency_slo_ms: float | None) -> BoolArray:
    """Nodes whose expected RTT is at most the SLO; all if there is no SLO."""
    if latency_slo_ms is None:
        return np.ones(rtt_ms.shape, dtype=np.bool_)
    return np.asarray(rtt_ms <= latency_slo_ms)


class LatencySlo:
    name = NAME
    reason = REASON
    per_replica = False
    evicts = False

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        if ctx.request.latency_slo_ms is None:
            return np.ones(len(ctx.snapshot.names[ctx.rows]), dtype=np.bool_)
        return latency_slo_mask(ctx.rtt_ms[ctx.rows], ctx.request.latency_slo_ms)

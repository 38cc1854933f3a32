"""Filter `gpus`: enough free GPUs of the requested model, each with the requested memory.

A request that names no model may use any model with enough memory; a request
for no GPUs passes everywhere. Free GPUs come from the call's local capacity,
so this filter is recomputed for every replica.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import BoolArray, IntArray
from controlplane.scheduler.framework import PlacementContext

NAME = "gpus"
REASON = "insufficient GPUs"


def gpus_mask(gpus_free: IntArray, memory_ok: BoolArray, gpus: int) -> BoolArray:
    """(N, C) free GPUs and memory fit -> (N,): some column has `gpus` free GPUs that fit."""
    if gpus_free.shape[1] == 1:
        return np.asarray((gpus_free[:, 0] >= gpus) & memory_ok[:, 0])
    return np.asarray(((gpus_free >= gpus) & memory_ok).any(axis=1))


class Gpus:
    name = NAME
    reason = REASON
    per_replica = True
    evicts = False

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        request = ctx.request
        n = len(ctx.snapshot.names)
        if request.gpus == 0:
            return np.ones(n, dtype=np.bool_)
        if not ctx.gpu_columns:
            return np.zeros(n, dtype=np.bool_)
        columns = ctx.fleet.gpus_free[:, list(ctx.gpu_columns)]
        return gpus_mask(columns, ctx.gpu_memory_ok, request.gpus)

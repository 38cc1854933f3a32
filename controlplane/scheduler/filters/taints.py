"""Filter `taints`: untolerated NoSchedule and NoExecute taints keep replicas off a node.

A toleration matches a taint with the same key whose value and effect equal the
toleration's, an empty toleration value or effect matching any. PreferNoSchedule
taints do not block. Taints are sparse and repetitive, so this checks each
distinct set of taints once (the FleetIndex groups the rows by set). Replicas
already running stay (drain moves them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from controlplane.inventory.snapshot import BoolArray, IntArray, NodeTaint
from controlplane.scheduler.framework import PlacementContext
from controlplane.scheduler.request import Toleration

NAME = "taints"
REASON = "taints"
BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


def tolerated(taint: NodeTaint, tolerations: Sequence[Toleration]) -> bool:
    """Whether some toleration matches the taint (or the taint does not block)."""
    if taint.effect not in BLOCKING_EFFECTS:
        return True
    return any(
        t.key == taint.key and t.value in ("", taint.value) and t.effect in ("", taint.effect)
        for t in tolerations
    )


def taints_mask(
    n_nodes: int,
    groups: Mapping[tuple[NodeTaint, ...], IntArray],
    tolerations: Sequence[Toleration],
) -> BoolArray:
    """Nodes none of whose blocking taints is untolerated; `groups` maps taint sets to rows."""
    mask = np.ones(n_nodes, dtype=np.bool_)
    for taints, rows in groups.items():
        if not all(tolerated(t, tolerations) for t in taints):
            mask[rows] = False
    return mask


class Taints:
    name = NAME
    reason = REASON
    per_replica = False
    evicts = False

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        return taints_mask(len(ctx.snapshot), ctx.index.taint_groups, ctx.request.tolerations)

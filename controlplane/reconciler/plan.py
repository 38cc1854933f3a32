"""What one deployment needs now: a pure decision over its replicas, no I/O.

The reconciler's contract (as in Ray Serve's controller): it may crash and be
rerun at any point, so each decision is recomputed from stored state every pass
and every action is idempotent. A replica in a move counts once: the old one
and its replacement are one slot until the replacement runs and the old stops
(make-before-break).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

REPLACES = "tokenplane.io/replaces"
ACTIVE_PHASES = frozenset({"Scheduled", "Starting", "Running"})


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """What the plan needs to know of one replica."""

    name: str
    node: str
    phase: str
    node_ready: bool
    replaces: str = ""  # the replica this one is replacing in a move, if any


@dataclass(frozen=True)
class DeploymentPlan:
    lost: tuple[str, ...] = ()  # failed, or on a node that is gone: forget and replace
    finish_moves: tuple[str, ...] = ()  # old replicas whose replacement runs: stop them now
    to_place: int = 0  # new replicas to place
    excess: int = 0  # replicas to stop because the deployment shrank
    moving: frozenset[str] = field(default_factory=frozenset)  # old replicas with a replacement
    replacing: frozenset[str] = field(default_factory=frozenset)  # those replacements


def plan_deployment(desired: int, replicas: Sequence[ReplicaView]) -> DeploymentPlan:
    lost = tuple(
        r.name
        for r in replicas
        if r.phase == "Failed" or (r.phase in ACTIVE_PHASES and not r.node_ready)
    )
    alive = [r for r in replicas if r.name not in lost and r.phase in ACTIVE_PHASES]
    names = {r.name for r in alive}
    replacements = [r for r in alive if r.replaces in names]
    moving = frozenset(r.replaces for r in replacements)
    finish = tuple(r.replaces for r in replacements if r.replaces in names and r.phase == "Running")
    # A replacement whose old replica is gone (lost, or already stopped) is an
    # ordinary replica; one whose old replica is alive shares its slot.
    slots = sum(1 for r in alive if not (r.replaces and r.replaces in names))
    return DeploymentPlan(
        lost=lost,
        finish_moves=finish,
        to_place=max(0, desired - slots),
        excess=max(0, slots - desired),
        moving=moving,
        replacing=frozenset(r.name for r in replacements),
    )

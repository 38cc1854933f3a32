"""What one deployment needs now: a pure decision over its replicas, no I/O.

The reconciler's contract (as in Ray Serve's controller): it may crash and be
rerun at any point, so each decision is recomputed from stored state every pass
and every action is idempotent. A replica in a move counts once: the old one
and its replacement are one slot until the replacement runs and the old stops
(make-before-break).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controlplane.resources import ModelDeployment, PlacementExplanation, Replica
from controlplane.resources.wellknown import (
    ACTIVE_PHASES,
    REPLACES_ANNOTATION,
    ReplicaPhase,
)
from controlplane.scheduler.replan import RunningReplica
from controlplane.scheduler.request import PlacementRequest, request_from_deployment


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """What the plan needs to know of one replica."""

    name: str
    node: str
    phase: ReplicaPhase
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
        if r.phase == ReplicaPhase.FAILED or (r.phase in ACTIVE_PHASES and not r.node_ready)
    )
    alive = [r for r in replicas if r.name not in lost and r.phase in ACTIVE_PHASES]
    names = {r.name for r in alive}
    replacements = [r for r in alive if r.replaces in names]
    moving = frozenset(r.replaces for r in replacements)
    finish = tuple(
        r.replaces for r in replacements if r.replaces in names and r.phase == ReplicaPhase.RUNNING
    )
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


@dataclass(frozen=True)
class MoveRequest:
    """A move asked for (drain, re-plan): to a chosen node, or wherever the placer says."""

    reason: str
    to_node: str | None = None
    explanation: PlacementExplanation | None = None
    stop: bool = False  # nowhere to go (e.g. curtailment): just stop it


@dataclass(frozen=True)
class DirectMove:
    """Start a move whose target is already chosen (by the re-plan)."""

    old: str
    to_node: str
    explanation: PlacementExplanation


@dataclass(frozen=True)
class Actions:
    """One deployment's side effects for this pass, decided without I/O.

    The controller carries them out in this order: forget, finish moves, delete,
    stop, scale down, then place (`to_place` new replicas and one for each of `placed_moves`).
    """

    deployment: ModelDeployment
    request: PlacementRequest
    forget: tuple[Replica, ...] = ()  # lost or failed: record, stop if reachable, delete
    finish_moves: tuple[Replica, ...] = ()  # old replicas whose replacement runs: stop
    delete: tuple[Replica, ...] = ()  # Terminating on a node that is not connected
    stops: tuple[Replica, ...] = ()  # moves with nowhere to go: stop them
    excess: int = 0  # how many of `candidates` the placer should stop
    candidates: tuple[RunningReplica, ...] = ()  # the replicas a scale-down may stop
    to_place: int = 0
    existing: tuple[str, ...] = ()  # nodes of the live replicas, for spread
    direct_moves: tuple[DirectMove, ...] = ()
    placed_moves: tuple[str, ...] = ()  # old replicas whose replacement the placer chooses


def replica_views(replicas: Sequence[Replica], ready_nodes: frozenset[str]) -> list[ReplicaView]:
    return [
        ReplicaView(
            r.name,
            r.spec.node_name,
            r.status.phase,
            r.spec.node_name in ready_nodes,
            r.metadata.annotations.get(REPLACES_ANNOTATION, ""),
        )
        for r in replicas
    ]


def replan_view(
    replicas: Sequence[ReplicaView], moves: Mapping[str, MoveRequest]
) -> tuple[tuple[RunningReplica, ...], tuple[str, ...]]:
    """(replicas a re-plan may move, nodes where the deployment's others will serve).

    Only a Running replica with no move under way or asked for may move. The
    others still serve, and the re-plan must count them as the routes will
    once their moves are done: a replacement (starting or running) on its
    node, a replica starting on its node, a replica whose move is asked for
    on its destination (on its own node while the placer has not chosen one),
    a replica moving out not at all (its replacement stands for it), nor one
    asked to stop. Leaving them out would let the re-plan move a replica to
    serve users that one on its way already serves, and lose its own users.
    """
    plan = plan_deployment(len(replicas), replicas)
    movable: list[RunningReplica] = []
    settling: list[str] = []
    for r in replicas:
        if r.name in plan.lost or r.phase not in ACTIVE_PHASES or r.name in plan.moving:
            continue
        move = moves.get(r.name)
        if move is not None and move.stop:
            continue
        if move is None and r.phase == ReplicaPhase.RUNNING and r.name not in plan.replacing:
            movable.append(RunningReplica(r.name, r.node))
        else:
            settling.append(move.to_node if move is not None and move.to_node else r.node)
    return tuple(movable), tuple(settling)


def decide(
    deployment: ModelDeployment,
    replicas: Sequence[Replica],
    *,
    ready_nodes: frozenset[str],
    connected_nodes: frozenset[str],
    moves: Mapping[str, MoveRequest],
    max_concurrent_moves: int,
) -> Actions:
    """What to do for one deployment now, from its replicas and the nodes' state."""
    plan = plan_deployment(deployment.spec.replicas, replica_views(replicas, ready_nodes))
    by_name = {r.name: r for r in replicas}
    live = [r for r in replicas if r.name not in plan.lost and r.status.phase in ACTIVE_PHASES]
    direct: list[DirectMove] = []
    placed: list[str] = []
    stops: list[Replica] = []
    in_flight = len(plan.moving)
    for r in live:
        move = moves.get(r.name)
        if move is None or r.name in plan.moving or r.name in plan.replacing:
            continue
        if move.stop:
            stops.append(r)
            continue
        if in_flight >= max_concurrent_moves:
            break
        in_flight += 1
        if move.to_node is not None and move.explanation is not None:
            direct.append(DirectMove(r.name, move.to_node, move.explanation))
        else:
            placed.append(r.name)
    return Actions(
        deployment=deployment,
        request=request_from_deployment(deployment),
        forget=tuple(by_name[n] for n in plan.lost),
        finish_moves=tuple(by_name[n] for n in plan.finish_moves),
        delete=tuple(
            r
            for r in replicas
            if r.status.phase == ReplicaPhase.TERMINATING
            and r.spec.node_name not in connected_nodes
        ),
        stops=tuple(stops),
        excess=plan.excess,
        candidates=tuple(
            RunningReplica(r.name, r.spec.node_name) for r in live if r.name not in plan.moving
        )
        if plan.excess
        else (),
        to_place=plan.to_place,
        existing=tuple(r.spec.node_name for r in live),
        direct_moves=tuple(direct),
        placed_moves=tuple(placed),
    )

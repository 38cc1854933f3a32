"""Re-planning: which running replicas should move, and which to stop, when the fleet changes.

Pure, like `place`: given the snapshot and where each deployment's replicas
run, it returns moves with their reasons and leaves doing them to the
reconciler (make-before-break: the new replica Ready before the old one stops).
Moves come in two kinds. Forced moves are not budgeted: a replica whose node is
gone or fails a filter that evicts (not Ready, tier, privacy, residency), and
replicas shed from sites whose power budget has dropped below their draw
(curtailment), largest first, until the site is within budget. Optional moves
are the improvements: a replica moves only if its cost where it is exceeds its
cost at the best other node by more than the deployment's `move_threshold`
(hysteresis, in the units of the normalised cost, which lies in [0, 1]), the
largest gains first, at most `max_moves` per call. Costs are those of `place`,
with the replica itself taken out of the node it is on, so staying and leaving
are compared on equal terms and a move is never undone by the next call unless
the fleet changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.resources import PlacementExplanation
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import FleetState, PlacementContext
from controlplane.scheduler.geo import UnknownRegionError
from controlplane.scheduler.pipeline import (
    DEFAULT_CHAIN,
    Chain,
    Evaluator,
    bind,
    build_context,
    choose,
)
from controlplane.scheduler.request import PlacementRequest

REASON_NODE_GONE = "node gone"
REASON_CURTAILMENT = "curtailment"
REASON_BETTER = "better placement"


@dataclass(frozen=True, slots=True)
class RunningReplica:
    name: str
    node: str


@dataclass(frozen=True)
class DeploymentReplicas:
    """A deployment's request and the replicas of it that run now."""

    request: PlacementRequest
    replicas: tuple[RunningReplica, ...]


@dataclass(frozen=True)
class Move:
    """Start `replica` on `to_node`, then stop it on `from_node`; `to_node` None: just stop it."""

    deployment: str
    replica: str
    from_node: str
    to_node: str | None
    reason: str
    gain: float  # cost where it was minus cost where it goes (0 when it just stops)
    explanation: PlacementExplanation | None  # why `to_node`


@dataclass
class _Replica:
    deployment: _Deployment
    name: str
    node: str
    row: int | None  # None: the node is gone from the snapshot
    column: int | None  # GPU column it holds


@dataclass
class _Deployment:
    ctx: PlacementContext
    evaluator: Evaluator


@dataclass(frozen=True)
class _Option:
    dest: int | None
    gain: float
    explanation: PlacementExplanation | None


def _held_column(ctx: PlacementContext, row: int) -> int | None:
    """The GPU column a running replica holds: the first usable one with memory enough."""
    if ctx.request.gpus == 0 or not ctx.gpu_columns:
        return None
    ok = ctx.gpu_memory_ok[row]
    return ctx.gpu_columns[int(np.argmax(ok))] if ok.any() else ctx.gpu_columns[0]


def _take_out(r: _Replica) -> None:
    ctx = r.deployment.ctx
    if r.row is not None:
        gpus = ctx.request.gpus if r.column is not None else 0
        ctx.fleet.unbind(r.row, r.column, gpus, ctx.request.power_kw)
        ctx.spread.add(r.row, int(ctx.index.region_code[r.row]), -1)


def _put_back(r: _Replica) -> None:
    ctx = r.deployment.ctx
    if r.row is not None:
        gpus = ctx.request.gpus if r.column is not None else 0
        ctx.fleet.bind(r.row, r.column, gpus, ctx.request.power_kw)
        ctx.spread.add(r.row, int(ctx.index.region_code[r.row]))


def _best_option(r: _Replica, rng: np.random.Generator) -> _Option:
    """The best other node for `r`, evaluated with `r` taken out of its own node."""
    _take_out(r)
    try:
        ev = r.deployment.evaluator
        verdict = ev.feasible()
        mask = verdict.mask.copy()
        if r.row is not None:
            mask[r.row] = False
        if not mask.any():
            return _Option(None, 0.0, None)
        cost = ev.cost()  # not narrowed: positions are rows
        dest = choose(cost, mask, rng)
        here = float(cost[r.row]) if r.row is not None else float(cost[dest])
        return _Option(dest, here - float(cost[dest]), ev.explain(dest, float(cost[dest]), verdict))
    finally:
        _put_back(r)


def _apply(r: _Replica, option: _Option, reason: str) -> Move:
    ctx = r.deployment.ctx
    _take_out(r)
    to_node = None
    if option.dest is None:
        r.row = r.column = None
    else:
        r.column = bind(ctx, option.dest)
        r.row, to_node = option.dest, str(ctx.snapshot.names[option.dest])
    move = Move(
        deployment=ctx.request.deployment,
        replica=r.name,
        from_node=r.node,
        to_node=to_node,
        reason=reason,
        gain=option.gain,
        explanation=option.explanation,
    )
    r.node = to_node or ""
    return move


def _load(
    index: FleetIndex,
    deployments: Sequence[DeploymentReplicas],
    fleet: FleetState,
    chain: Chain,
) -> list[_Replica]:
    replicas: list[_Replica] = []
    for dep in deployments:
        try:
            ctx = build_context(
                index, dep.request, 0, existing=[r.node for r in dep.replicas], fleet=fleet
            )
        except UnknownRegionError:
            continue  # cannot be scored; `place` reports it
        state = _Deployment(ctx, Evaluator(ctx, chain, narrow=False))
        rows = [index.row(r.node) for r in dep.replicas]
        current = np.zeros(len(index), dtype=np.bool_)
        current[[x for x in rows if x is not None]] = True
        state.evaluator.fix_scales(state.evaluator.feasible().mask | current)
        replicas.extend(
            _Replica(state, r.name, r.node, row, None if row is None else _held_column(ctx, row))
            for r, row in zip(dep.replicas, rows, strict=True)
        )
    return replicas


def _evicting_reason(r: _Replica) -> str | None:
    if r.row is None:
        return REASON_NODE_GONE
    ev = r.deployment.evaluator
    for f in ev.chain.filters:
        if f.evicts and not f.per_replica and not ev.mask(f)[r.row]:
            return f.reason
    return None


def _shed_curtailed(
    replicas: list[_Replica],
    fleet: FleetState,
    snapshot: FleetSnapshot,
    rng: np.random.Generator,
) -> list[Move]:
    moves: list[Move] = []
    over = np.flatnonzero(fleet.headroom_kw < 0)
    for row in over:
        budget_kw = float(snapshot.budget_kw[row])
        reason = (
            f"{REASON_CURTAILMENT}: budget {budget_kw:.0f} kW < draw {fleet.it_draw_kw[row]:.0f} kW"
        )
        here = [r for r in replicas if r.row == row]
        here.sort(
            key=lambda r: (
                -r.deployment.ctx.request.power_kw,
                r.deployment.ctx.request.deployment,
                r.name,
            )
        )
        for r in here:
            if fleet.headroom_kw[row] >= 0:
                break
            moves.append(_apply(r, _best_option(r, rng), reason))
            replicas.remove(r)
    return moves


def replan(
    snapshot: FleetSnapshot,
    deployments: Sequence[DeploymentReplicas],
    *,
    max_moves: int = 10,
    seed: int = 0,
    index: FleetIndex | None = None,
    chain: Chain | None = None,
) -> list[Move]:
    """The moves that bring the running replicas in line with the fleet as it is now.

    Forced moves first (node gone, evicting filters, curtailment), then at most
    `max_moves` optional ones whose gain exceeds their deployment's
    `move_threshold`. Each move is planned on the capacity left by the moves
    before it, so together they never exceed free GPUs or power headroom.
    """
    index = index or FleetIndex(snapshot)
    fleet = FleetState.from_snapshot(snapshot)
    rng = np.random.default_rng(seed)
    replicas = _load(index, deployments, fleet, chain or DEFAULT_CHAIN)
    moves: list[Move] = []
    for r in list(replicas):
        reason = _evicting_reason(r)
        if reason is not None:
            moves.append(_apply(r, _best_option(r, rng), reason))
            replicas.remove(r)
    moves += _shed_curtailed(replicas, fleet, snapshot, rng)
    ranked = sorted(
        ((o.gain, r) for r in replicas if (o := _best_option(r, rng)).dest is not None),
        key=lambda item: (-item[0], item[1].deployment.ctx.request.deployment, item[1].name),
    )
    optional = 0
    for first_gain, r in ranked:
        threshold = r.deployment.ctx.request.move_threshold
        if optional >= max_moves:
            break
        if first_gain <= threshold:
            continue
        option = _best_option(r, rng)  # again: earlier moves may have changed it
        if option.dest is not None and option.gain > threshold:
            moves.append(_apply(r, option, f"{REASON_BETTER}: cost {option.gain:.3f} lower"))
            optional += 1
    return moves


def scale_down(
    snapshot: FleetSnapshot,
    deployment: DeploymentReplicas,
    n: int,
    *,
    index: FleetIndex | None = None,
    chain: Chain | None = None,
) -> list[str]:
    """Names of the `n` replicas to stop when a deployment shrinks.

    Replicas on gone or evicting nodes go first, then, one at a time, the one
    whose node costs most for it (with the others' spread as it then stands).
    """
    index = index or FleetIndex(snapshot)
    replicas = _load(
        index, [deployment], FleetState.from_snapshot(snapshot), chain or DEFAULT_CHAIN
    )
    if not replicas:
        return []
    ev = replicas[0].deployment.evaluator
    stopped: list[str] = []
    while replicas and len(stopped) < n:
        forced = [r for r in replicas if _evicting_reason(r) is not None]
        if forced:
            victim = forced[0]
        else:

            def cost_here(r: _Replica) -> float:
                _take_out(r)
                try:
                    return float(ev.cost()[r.row])
                finally:
                    _put_back(r)

            victim = max(replicas, key=lambda r: (cost_here(r), r.name))
        _take_out(victim)
        replicas.remove(victim)
        stopped.append(victim.name)
    return stopped

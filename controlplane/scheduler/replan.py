"""Re-planning: which running replicas should move, and which to stop, when the fleet changes.

Pure, like `place`: given the snapshot and where each deployment's replicas
run, it returns moves with their reasons and leaves doing them to the
reconciler (make-before-break: the new replica Running before the old one
stops, and routes switch only then). It judges with `place`'s objective: every
demand point that can be served within the SLO first, then energy cost, then
RTT.

Forced moves are not budgeted: a replica whose node is gone or fails a filter
that evicts (not Ready, tier, privacy, residency), and replicas shed from
sites whose power budget fell below their draw (curtailment), largest first.
Their replacements are placed as `place` would, with the deployment's other
replicas kept. Optional moves are swaps of one replica to another node, and
each must pay for itself in physical units: it is made if it serves demand
that was outside the SLO, or if, with no demand lost, the energy cost it saves
over the deployment's `move_horizon_hours` exceeds what starting the new
replica costs (its draw for `move_startup_minutes` at the destination, at
this hour's figures). At most `max_moves` optional moves a call. Hysteresis is
therefore a quantity of gCO2 (or $), not a tuning knob.

The saving is judged on the forecast where the snapshot has one
(`carbon_forecast_g_per_kwh`, `price_forecast_per_kwh`; docs/forecast.md),
hour by hour over the horizon, this hour included, not on this hour alone:
the search weighs each node by its mean over the horizon, and a move is made
if moving now costs less over the horizon than staying, each plan free to
move again later, paying another start-up (`pays_back`). A one-hour dip that
cannot repay two start-ups moves nothing, a shift the forecast expects to
hold moves the replica when it starts, and a replica that followed a daily
low is not moved back until it ends. Without a forecast the current hour
stands for the whole horizon. The SLO is never traded: an
optional move may not lose demand within it, and make-before-break keeps the
old replica serving until the new one runs. Replicas on their way (starting,
or the destinations of moves under way) are not moved but count where they
will serve, and moves made together must lose no demand within the SLO
whichever of them finishes first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

from controlplane.energy.forecast import hour_weights, hourly
from controlplane.inventory.snapshot import FleetSnapshot, FloatArray
from controlplane.resources import PlacementExplanation
from controlplane.scheduler import facility
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import FleetState, PlacementContext
from controlplane.scheduler.geo import UnknownRegionError
from controlplane.scheduler.pipeline import (
    DEFAULT_CHAIN,
    Chain,
    Feasibility,
    Unschedulable,
    bind,
    build_context,
    covers,
    demand_weights,
    explain,
    feasibility,
    nearest_replica,
    place,
    reach_of,
    slot_costs,
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
    """A deployment's request, the replicas of it that run now, and where the others will serve.

    `settling` names the nodes of its replicas that this call must not move but
    that serve its users all the same: replicas starting, and the destinations
    of moves under way (make-before-break: the replica moving out is not
    listed, its replacement is). They count for coverage and RTT as the
    routes will see them once the moves are done, so a move is never made to
    cover users that a replica on its way already covers.
    """

    request: PlacementRequest
    replicas: tuple[RunningReplica, ...]
    settling: tuple[str, ...] = ()


@dataclass(frozen=True)
class Move:
    """Start `replica` on `to_node`, then stop it on `from_node`; `to_node` None: just stop it."""

    deployment: str
    replica: str
    from_node: str
    to_node: str | None
    reason: str
    saving_per_h: float  # energy cost per hour saved, in the deployment's unit (0 if forced)
    explanation: PlacementExplanation | None  # why `to_node`


@dataclass
class _Replica:
    name: str
    node: str
    row: int | None  # None: the node is gone from the snapshot
    column: int | None  # GPU column it holds


def _held_column(ctx: PlacementContext, row: int) -> int | None:
    """The GPU column a running replica holds: the first usable one with memory enough."""
    if ctx.request.gpus == 0 or not ctx.gpu_columns:
        return None
    ok = ctx.gpu_memory_ok[row]
    return ctx.gpu_columns[int(np.argmax(ok))] if ok.any() else ctx.gpu_columns[0]


def _take_out(ctx: PlacementContext, r: _Replica) -> None:
    if r.row is not None:
        gpus = ctx.request.gpus if r.column is not None else 0
        ctx.fleet.unbind(r.row, r.column, gpus, ctx.request.power_kw)


def _put_back(ctx: PlacementContext, r: _Replica) -> None:
    if r.row is not None:
        gpus = ctx.request.gpus if r.column is not None else 0
        ctx.fleet.bind(r.row, r.column, gpus, ctx.request.power_kw)


@dataclass
class _Deployment:
    ctx: PlacementContext
    replicas: list[_Replica]
    static: Feasibility  # over every filter, with the deployment's replicas still in place
    settling: list[int]  # rows of the replicas that serve but are not re-planned now

    def evicting_reason(self, r: _Replica) -> str | None:
        if r.row is None:
            return REASON_NODE_GONE
        for f in DEFAULT_CHAIN.filters:
            if f.evicts and not f.per_replica and not f(self.ctx)[r.row]:
                return f.reason
        return None


def _load(
    index: FleetIndex, deployments: Sequence[DeploymentReplicas], fleet: FleetState, chain: Chain
) -> list[_Deployment]:
    loaded = []
    for dep in sorted(deployments, key=lambda d: d.request.deployment):
        try:
            ctx = build_context(index, dep.request, fleet=fleet)
        except UnknownRegionError:
            continue  # cannot be judged; `place` reports it
        replicas = []
        for r in dep.replicas:
            row = index.row(r.node)
            replicas.append(
                _Replica(r.name, r.node, row, None if row is None else _held_column(ctx, row))
            )
        settling = index.rows(dep.settling)
        loaded.append(_Deployment(ctx, replicas, feasibility(ctx, chain), settling))
    return loaded


def _replace(
    d: _Deployment, leaving: list[tuple[_Replica, str]], index: FleetIndex, chain: Chain
) -> list[Move]:
    """Moves for replicas that must leave: placed as `place` would, the others kept."""
    ctx = d.ctx
    for r, _ in leaving:
        _take_out(ctx, r)
        d.replicas.remove(r)
    result = place(
        index.snapshot,
        ctx.request,
        len(leaving),
        existing=[r.node for r in d.replicas if r.row is not None],
        index=index,
        chain=chain,
        fleet=ctx.fleet,
    )
    placed = list(result.placed if isinstance(result, Unschedulable) else result)
    moves = []
    for i, (r, reason) in enumerate(leaving):
        p = placed[i] if i < len(placed) else None
        moves.append(
            Move(
                ctx.request.deployment,
                r.name,
                r.node,
                p.node if p else None,
                reason,
                0.0,
                p.explanation if p else None,
            )
        )
        if p is not None:
            d.replicas.append(_Replica(r.name, p.node, p.row, ctx.gpu_column_at(p.row)))
    return moves


def _shed_curtailed(
    snapshot: FleetSnapshot, deployments: list[_Deployment], fleet: FleetState, forced: set[str]
) -> dict[int, list[tuple[_Replica, str]]]:
    """Replicas to take off sites over their budget, largest first: deployment -> [(r, reason)]."""
    leaving: dict[int, list[tuple[_Replica, str]]] = defaultdict(list)
    headroom_kw = fleet.headroom_kw.copy()
    for row in np.flatnonzero(headroom_kw < 0):
        reason = (
            f"{REASON_CURTAILMENT}: budget {float(snapshot.budget_kw[row]):.0f} kW"
            f" < draw {float(fleet.it_draw_kw[row]):.0f} kW"
        )
        here = [
            (i, r)
            for i, d in enumerate(deployments)
            for r in d.replicas
            if r.row == row and r.name not in forced
        ]
        here.sort(key=lambda ir: (-deployments[ir[0]].ctx.request.power_kw, ir[1].name))
        for i, r in here:
            if headroom_kw[row] >= 0:
                break
            leaving[i].append((r, reason))
            headroom_kw[row] += deployments[i].ctx.request.power_kw
    return leaving


@dataclass(frozen=True)
class EnergyAhead:
    """Each node's carbon and price hour by hour over a move horizon: what a move is judged on."""

    carbon_g_per_kwh: FloatArray  # (N, T): this hour, then the forecast's (held past it)
    price_per_kwh: FloatArray  # (N, T)
    weight: FloatArray  # (T,) each hour's share of the horizon: ones, the last maybe less
    forecast: bool  # False: the snapshot has no forecast; every hour is this hour

    def mean(self) -> tuple[FloatArray, FloatArray]:
        """(N,) carbon and price averaged over the horizon."""
        total = float(self.weight.sum())
        return self.carbon_g_per_kwh @ self.weight / total, self.price_per_kwh @ self.weight / total


def energy_ahead(snapshot: FleetSnapshot, horizon_h: float) -> EnergyAhead:
    """Carbon and price over the next `horizon_h` hours, from the snapshot's forecast.

    Nodes (or hours) without a forecast keep this hour's figure.
    """
    weight = hour_weights(horizon_h)
    carbon, price = snapshot.carbon_forecast_g_per_kwh, snapshot.price_forecast_per_kwh
    return EnergyAhead(
        hourly(snapshot.carbon_g_per_kwh, carbon, len(weight)),
        hourly(snapshot.price_per_kwh, price, len(weight)),
        weight,
        carbon.size > 0 or price.size > 0,
    )


def pays_back(
    saving_per_h: FloatArray, weight: FloatArray, startup: float, leave_again: float
) -> bool:
    """Whether moving now beats staying, over the horizon, when either may change later.

    `saving_per_h` (T,) is the energy cost per hour the destination saves in
    each hour of the horizon (negative where it is dearer), `weight` each
    hour's share of it; a move to the destination costs `startup`, one back
    `leave_again`. Both plans are costed at their best: staying may move
    later (when the saving starts), moving may come back (when it ends), each
    paying its start-up. So a one-hour dip moves nothing unless its hour
    repays two start-ups, a lasting shift moves the replica as soon as it
    starts, and a replica that moved is not moved back while the reason holds.
    Without a forecast (a flat saving) this is saving x horizon > startup.
    """
    stay = there = 0.0  # cost to go from the next hour, being at the source / the destination
    s = np.asarray(saving_per_h, dtype=np.float64) * weight
    for k in range(len(s) - 1, 0, -1):
        stay, there = s[k] + min(stay, startup + there), min(there, leave_again + stay)
    stay_now = s[0] + min(stay, startup + there)
    move_now = startup + min(there, leave_again + stay)
    return bool(move_now < stay_now - 1e-9 * max(1.0, abs(stay_now)))


@dataclass(frozen=True)
class _Search:
    """One deployment's replicas as a facility problem over candidates that include their nodes.

    The problem's costs are per hour, averaged over the move horizon;
    `startup_cost` is this hour's cost per hour of a replica on each
    candidate; `drift` (C, T) how each hour's cost of a first replica differs
    from that average (zeros without a forecast).
    """

    rows: npt.NDArray[np.intp]
    problem: facility.Problem
    counts: npt.NDArray[np.int32]
    startup_cost: FloatArray
    drift: FloatArray
    weight: FloatArray


def _search_space(d: _Deployment, energy: EnergyAhead | None = None) -> _Search:
    """Candidates: feasible nodes plus the replicas' own; counts: where the replicas are now.

    The deployment's replicas are taken out of the fleet's capacity first, so
    staying and leaving are costed alike. A replica's own node keeps its slots
    even if it now fails a filter that does not evict (a cordon): it may stay.
    """
    ctx, request = d.ctx, d.ctx.request
    for r in d.replicas:
        _take_out(ctx, r)
    here = [r.row for r in d.replicas if r.row is not None]
    feasible = feasibility(ctx, DEFAULT_CHAIN).mask
    candidates = np.union1d(np.flatnonzero(feasible), np.array(here, np.intp))
    rtt = reach_of(ctx, candidates).rtt_ms
    n = len(d.replicas)
    within = covers(rtt, request.latency_slo_ms)
    now = slot_costs(ctx, candidates, max(1, n))
    weight = energy.weight if energy is not None else np.ones(1)
    if energy is not None and energy.forecast:
        carbon, price = energy.mean()
        cost = slot_costs(ctx, candidates, max(1, n), carbon_g_per_kwh=carbon, price_per_kwh=price)
        by_hour = np.column_stack(
            [
                slot_costs(
                    ctx,
                    candidates,
                    1,
                    carbon_g_per_kwh=energy.carbon_g_per_kwh[:, k],
                    price_per_kwh=energy.price_per_kwh[:, k],
                )[:, 0]
                for k in range(len(weight))
            ]
        )
        with np.errstate(invalid="ignore"):  # inf - inf on full nodes: never a move's end
            drift = by_hour - cost[:, :1]
    else:
        cost = now.copy()
        drift = np.zeros((len(candidates), len(weight)))
    stay_only = ~feasible[candidates]
    counts = np.zeros(len(candidates), np.int32)
    position = {int(row): i for i, row in enumerate(candidates)}
    for row in here:
        counts[position[row]] += 1
    for i in np.flatnonzero(stay_only):
        cost[i, counts[i] :] = np.inf
    keep = np.union1d(
        facility.reduce_candidates(within, rtt, cost[:, 0], n + request.min_sites),
        np.flatnonzero(counts),
    )
    settling = np.unique(np.array(d.settling, np.intp))
    settled_rtt = (
        reach_of(ctx, settling).rtt_ms
        if len(settling)
        else np.zeros((0, len(request.demand)), np.float32)
    )
    problem = facility.Problem(
        covers=within[keep],
        rtt_ms=rtt[keep],
        weight=demand_weights(request),
        cost=cost[keep],
        n_new=n,
        min_sites=min(request.min_sites, n + len(settling)),
        fixed_count=covers(settled_rtt, request.latency_slo_ms).sum(axis=0, dtype=np.int32),
        fixed_rtt_ms=settled_rtt.min(axis=0, initial=np.inf),
        fixed_on=np.isin(candidates[keep], settling),
        fixed_sites=len(settling),
    )
    return _Search(candidates[keep], problem, counts[keep], now[keep, 0], drift[keep], weight)


def _worth_moving(search: _Search, startup_h: float) -> facility.Accept:
    """A swap pays if it serves demand that was beyond the SLO, or saves more than it costs.

    The saving in each hour of the horizon is the average saving plus how
    that hour differs from the average at both ends (`pays_back`); start-ups
    are paid at this hour's costs.
    """
    startup, drift = search.startup_cost * startup_h, search.drift

    def accept(new: facility.Objective, current: facility.Objective, leaves: int, to: int) -> bool:
        if new.uncovered < current.uncovered - facility.COVER_TOLERANCE:
            return True
        if new.uncovered > current.uncovered + facility.COVER_TOLERANCE:
            return False
        saving = (current.energy - new.energy) + drift[leaves] - drift[to]
        return pays_back(saving, search.weight, float(startup[to]), float(startup[leaves]))

    return accept


def _net_moves(swaps: list[tuple[int, int]], counts: npt.NDArray[np.int32]) -> list[list[int]]:
    """The search's swaps as one move per replica, [from, to] candidates, in the order made.

    A swap takes a replica that has not moved where there is one; else it
    carries on the move of the one that came there (moved back, it stays).
    """
    stay = counts.copy()
    moves: list[list[int]] = []
    for c, j in swaps:
        if stay[c] > 0:
            stay[c] -= 1
            moves.append([c, j])
            continue
        move = next(m for m in reversed(moves) if m[1] == c)
        move[1] = j
        if move[0] == j:
            moves.remove(move)
            stay[j] += 1
    return moves


def _applied(counts: npt.NDArray[np.int32], moves: Sequence[list[int]]) -> npt.NDArray[np.int32]:
    after = counts.copy()
    for c, j in moves:
        after[c] -= 1
        after[j] += 1
    return after


def _safe_moves(
    problem: facility.Problem, counts: npt.NDArray[np.int32], moves: list[list[int]]
) -> tuple[list[list[int]], facility.Objective]:
    """The longest run of `moves`, from the first, that may be under way at once.

    Make-before-break moves finish in any order, and routes follow the
    replicas that run: whichever of them have finished, no demand within the
    SLO may be lost. A run cut short must still gain coverage or save energy
    on the mean over the horizon. Returns it and its objective.
    """
    before = facility.evaluate(problem, counts)
    safe = 0
    for m in range(1, len(moves) + 1):
        last = moves[m - 1]
        subsets = (s for k in range(m) for s in combinations(moves[: m - 1], k))
        if any(
            facility.evaluate(problem, _applied(counts, [*s, last])).uncovered
            > before.uncovered + facility.COVER_TOLERANCE
            for s in subsets
        ):
            break
        safe = m
    if safe == len(moves):  # each swap was judged worth it by the search
        return moves, facility.evaluate(problem, _applied(counts, moves))
    while safe:
        after = facility.evaluate(problem, _applied(counts, moves[:safe]))
        if after.uncovered < before.uncovered - facility.COVER_TOLERANCE or (
            after.uncovered <= before.uncovered + facility.COVER_TOLERANCE
            and after.energy < before.energy
        ):
            return moves[:safe], after
        safe -= 1
    return [], before


def _improve(
    d: _Deployment, budget: int, rng: np.random.Generator, energy: EnergyAhead
) -> list[Move]:
    ctx, request = d.ctx, d.ctx.request
    search = _search_space(d, energy)
    accept = _worth_moving(search, request.move_startup_minutes / 60.0)
    before = facility.evaluate(search.problem, search.counts)
    _, swaps = facility.improve(search.problem, search.counts, rng, accept, budget)
    net, objective = _safe_moves(search.problem, search.counts, _net_moves(swaps, search.counts))
    by_row: dict[int, list[_Replica]] = defaultdict(list)
    for r in d.replicas:
        if r.row is not None:
            by_row[r.row].append(r)
    moves: list[tuple[_Replica, int]] = []
    for c, j in net:
        r = by_row[int(search.rows[c])].pop()
        moves.append((r, int(search.rows[j])))
    for r, dest in moves:
        by_row[dest].append(r)
    for r in d.replicas:
        _put_back(ctx, r)  # where they run until the moves are made
    if not moves:
        return []
    saving = (before.energy - objective.energy) / len(moves)
    final_rows = [row for row, rs in by_row.items() for _ in rs] + d.settling
    reach = reach_of(ctx, np.union1d(search.rows, np.array(d.settling, np.intp)))
    nearest = nearest_replica(reach, final_rows)
    weight = demand_weights(request)
    # As the routes will count it once the moves are done: every point, by its nearest replica.
    routed_rtt = reach.rtt_ms[reach.at(nearest), np.arange(len(nearest))]
    attained = float(weight @ covers(routed_rtt, request.latency_slo_ms))
    verdict = feasibility(ctx, DEFAULT_CHAIN)
    out = []
    for r, dest in moves:
        serves = np.flatnonzero(nearest == dest)
        share = float(weight[serves].sum()) / max(1, len(by_row[dest]) + d.settling.count(dest))
        column = ctx.gpu_column_at(dest)
        model = ctx.snapshot.gpu_models[column] if column is not None else ""
        explanation = explain(ctx, reach, dest, serves, share, verdict, model)
        bind(ctx, dest)  # make-before-break: the old one holds its slot until it stops
        reason = (
            f"{REASON_BETTER}: demand in SLO {attained:.1%}"
            if objective.uncovered < before.uncovered - facility.COVER_TOLERANCE
            else f"{REASON_BETTER}: saves {saving:.4g}/h"
            + (f" (forecast mean over {request.move_horizon_hours:g} h)" if energy.forecast else "")
        )
        out.append(
            Move(
                request.deployment,
                r.name,
                r.node,
                str(ctx.snapshot.names[dest]),
                reason,
                saving,
                explanation,
            )
        )
    return out


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
    `max_moves` optional ones that pay for themselves over their horizon, on
    the snapshot's forecast where it has one. Each move is planned on
    the capacity left by the moves before it, so together they never exceed
    free GPUs or power headroom.
    """
    index = index or FleetIndex(snapshot)
    chain = chain or DEFAULT_CHAIN
    fleet = FleetState.from_snapshot(snapshot)
    rng = np.random.default_rng(seed)
    loaded = _load(index, deployments, fleet, chain)
    moves: list[Move] = []
    forced: dict[int, list[tuple[_Replica, str]]] = defaultdict(list)
    for i, d in enumerate(loaded):
        for r in d.replicas:
            reason = d.evicting_reason(r)
            if reason is not None:
                forced[i].append((r, reason))
    names = {r.name for items in forced.values() for r, _ in items}
    for i, items in _shed_curtailed(snapshot, loaded, fleet, names).items():
        forced[i] += items
    for i, leaving in sorted(forced.items()):
        moves += _replace(loaded[i], leaving, index, chain)
    budget = max_moves
    energy: dict[float, EnergyAhead] = {}
    for d in loaded:
        if budget <= 0:
            break
        horizon_h = d.ctx.request.move_horizon_hours
        if horizon_h not in energy:
            energy[horizon_h] = energy_ahead(snapshot, horizon_h)
        optional = _improve(d, budget, rng, energy[horizon_h])
        budget -= len(optional)
        moves += optional
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

    Replicas on gone or evicting nodes go first; then, one at a time, the one
    whose removal leaves the best objective (least demand lost beyond the SLO,
    then the most energy cost saved, then the least RTT added).
    """
    index = index or FleetIndex(snapshot)
    loaded = _load(index, [deployment], FleetState.from_snapshot(snapshot), chain or DEFAULT_CHAIN)
    if not loaded or n <= 0:
        return []
    d = loaded[0]
    stopped = [r.name for r in d.replicas if d.evicting_reason(r) is not None][:n]
    d.replicas = [r for r in d.replicas if r.name not in stopped]
    if len(stopped) < n and d.replicas:
        search = _search_space(d)
        by_row: dict[int, list[_Replica]] = defaultdict(list)
        for r in sorted(d.replicas, key=lambda r: r.name, reverse=True):
            if r.row is not None:
                by_row[r.row].append(r)
        for c in facility.drop_order(search.problem, search.counts, n - len(stopped)):
            stopped.append(by_row[int(search.rows[c])].pop().name)
    return stopped

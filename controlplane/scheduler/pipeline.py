"""The placement runner: filter, locate, bind, explain.

`place` is the scheduler's core and a pure function of its inputs: the same
snapshot, request and seed give the same placements. It applies the chain's
filters once over the fleet (counting every rejected node once, under the
first filter that rejected it), works out how many replicas each feasible node
can take and what each would cost per hour, takes the RTT from every node to
every demand point (measured where known), and hands the feasible nodes to
`facility.solve`, which chooses where the replicas go so that every demand
point that can be served within the SLO is, at least energy cost, then least
RTT. It then binds the replicas on local copies of the capacity arrays, so the
next call sees the GPUs and kW as taken, and explains each: its figures, the
demand points it serves, and what was rejected.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import BoolArray, FleetSnapshot, FloatArray, IntArray
from controlplane.resources import PlacementExplanation
from controlplane.scheduler import facility, filters
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import Filter, FleetState, PlacementContext, Registry
from controlplane.scheduler.geo import UnknownRegionError
from controlplane.scheduler.request import PlacementRequest
from controlplane.scheduler.scores.carbon import marginal_carbon_g_per_kwh
from controlplane.scheduler.scores.energy import carbon_g_per_h, replica_cost_per_h
from controlplane.scheduler.scores.renewable import renewable_share


@dataclass(frozen=True)
class Chain:
    """The filters, in the order they run (and are reported)."""

    filters: tuple[Filter, ...]


def default_registry() -> Registry:
    """Every built-in filter, by name."""
    return Registry(
        filters=(
            filters.Ready(),
            filters.Cordon(),
            filters.Tier(),
            filters.Privacy(),
            filters.Residency(),
            filters.Taints(),
            filters.Gpus(),
            filters.Power(),
        )
    )


def build_chain(registry: Registry | None = None) -> Chain:
    """The default chain. The order of the filters is the order of the explanation.

    1. Node state (`ready`, `cordon`): one boolean column each, and a node that
       cannot run anything is best reported as such, whatever else is wrong.
    2. The request's constraints (`tier`, `privacy`, `residency`, `taints`);
       taints last, the only one with a Python loop (over the fleet's distinct
       sets of taints).
    3. Capacity (`gpus`, `power`): the only filters that change as replicas bind.

    The latency SLO is not a filter: a node far from most users may be the one
    that serves some of them within it. Serving every user who can be served
    within it is the objective's first term (see `facility.py`).
    """
    r = registry or default_registry()
    names = ("ready", "cordon", "tier", "privacy", "residency", "taints", "gpus", "power")
    return Chain(filters=tuple(r.filter(name) for name in names))


DEFAULT_CHAIN = build_chain()


@dataclass(frozen=True)
class Placement:
    """One replica bound to one node, and why it went there."""

    replica: int  # index of the replica within the call
    row: int  # the node's row in the snapshot
    node: str
    gpu_model: str  # the GPU model it was bound to ("" if it uses none)
    explanation: PlacementExplanation


@dataclass(frozen=True)
class Unschedulable:
    """Not every replica fits: those that did (bindable as they are), how many did not, and why."""

    placed: tuple[Placement, ...]
    missing: int
    explanation: PlacementExplanation

    @property
    def message(self) -> str:
        return self.explanation.message


@dataclass(frozen=True)
class Feasibility:
    """Which nodes may take a replica, and how many each filter rejected."""

    mask: BoolArray
    count: int
    rejected: dict[str, int]  # reason -> nodes, in chain order, zero counts left out


def availability_message(feasible: int, total: int, rejected: dict[str, int]) -> str:
    """'0/240 nodes available: 180 power headroom, 60 tier'."""
    head = f"{feasible}/{total} nodes available"
    if not rejected:
        return head
    return head + ": " + ", ".join(f"{n} {reason}" for reason, n in rejected.items())


def default_seed(request: PlacementRequest) -> int:
    """A stable seed per deployment, so its tie-breaks replay but differ from other deployments'."""
    return zlib.crc32(request.deployment.encode())


def build_context(
    index: FleetIndex, request: PlacementRequest, *, fleet: FleetState | None = None
) -> PlacementContext:
    """The context for one call.

    Raises UnknownRegionError if a demand region has no known location.
    """
    for d in request.demand:
        if (d.lat is None or d.lon is None) and d.region not in index.region_coords:
            raise UnknownRegionError(d.region)
    snap = index.snapshot
    if request.gpus == 0:
        columns: tuple[int, ...] = ()
    elif request.gpu_model:
        column = snap.gpu_column(request.gpu_model)
        columns = () if column is None else (column,)
    else:
        columns = tuple(range(len(snap.gpu_models)))
    return PlacementContext(
        index=index,
        request=request,
        fleet=fleet or FleetState.from_snapshot(snap),
        gpu_columns=columns,
    )


@dataclass(frozen=True)
class StaticView:
    """What one request's static filters make of one snapshot: computed once per snapshot.

    Static filters depend only on the snapshot and the request, so a
    deployment placed several times on one snapshot (a node lost, a scale-up,
    re-planning) filters the fleet once.
    """

    rows: npt.NDArray[np.intp]  # nodes passing every static filter, sorted
    rejected: dict[str, int]  # static filters' rejections, in chain order


def static_view(ctx: PlacementContext, chain: Chain) -> StaticView:
    """The request's StaticView on the context's snapshot (memoised on the index)."""
    key = ("static-view", id(chain), id(ctx.request))
    hit = ctx.index.memo(key)
    if isinstance(hit, tuple) and hit[0] is ctx.request and hit[1] is chain:
        view: StaticView = hit[2]
        return view
    n = len(ctx.snapshot)
    alive = np.ones(n, dtype=np.bool_)
    left, rejected = n, {}
    for f in chain.filters:
        if f.per_replica or left == 0:
            continue
        alive &= f(ctx)
        now = int(np.count_nonzero(alive))
        if now < left:
            rejected[f.reason] = left - now
        left = now
    view = StaticView(np.flatnonzero(alive), rejected)
    ctx.index.remember(key, (ctx.request, chain, view), view.rows.nbytes)
    return view


def feasibility(ctx: PlacementContext, chain: Chain) -> Feasibility:
    """Which nodes may take one more replica, and why the others may not.

    Static filters first (memoised, see `StaticView`), then capacity over
    their survivors; each rejected node is counted once, under the first
    reason in chain order (the default chain puts capacity last).
    """
    view = static_view(ctx, chain)
    alive = np.ones(len(view.rows), dtype=np.bool_)
    left, rejected = len(view.rows), dict(view.rejected)
    for f in chain.filters:
        if not f.per_replica or left == 0:
            continue
        alive &= f(ctx)[view.rows]
        now = int(np.count_nonzero(alive))
        if now < left:
            rejected[f.reason] = rejected.get(f.reason, 0) + left - now
        left = now
    mask = np.zeros(len(ctx.snapshot), dtype=np.bool_)
    mask[view.rows[alive]] = True
    order = [f.reason for f in chain.filters]
    rejected = {r: rejected[r] for r in order if rejected.get(r)}
    return Feasibility(mask=mask, count=left, rejected=rejected)


def demand_weights(request: PlacementRequest) -> FloatArray:
    """Each demand point's share of the deployment's demand (zeros if it has none)."""
    weight = np.array([d.weight for d in request.demand], dtype=np.float64)
    total = float(weight.sum())
    return weight / total if total > 0 else weight


def covers(rtt_ms: npt.NDArray[np.float32], latency_slo_ms: float | None) -> BoolArray:
    """Which (node, demand point) pairs are within the SLO; all of them without one."""
    if latency_slo_ms is None:
        return np.ones(rtt_ms.shape, dtype=np.bool_)
    return np.asarray(rtt_ms <= latency_slo_ms)


def slot_costs(
    ctx: PlacementContext,
    rows: npt.NDArray[np.intp],
    slots: int,
    *,
    carbon_g_per_kwh: FloatArray | None = None,
    price_per_kwh: FloatArray | None = None,
) -> FloatArray:
    """(len(rows), slots): cost per hour of the 1st, 2nd, ... new replica on each row.

    A later replica on a site may cost more: the earlier ones used up its
    renewable surplus. Slots beyond a row's capacity cost inf. Carbon and
    price are the snapshot's (this hour) unless given, one per snapshot row
    (re-planning passes their forecast means over its horizon).
    """
    snap, request = ctx.snapshot, ctx.request
    carbon = snap.carbon_g_per_kwh if carbon_g_per_kwh is None else carbon_g_per_kwh
    price = snap.price_per_kwh if price_per_kwh is None else price_per_kwh
    fit = ctx.replicas_that_fit(rows)
    out = np.full((len(rows), slots), np.inf)
    draw = ctx.fleet.it_draw_kw[rows]
    for k in range(slots):
        room = fit > k
        if not room.any():
            break
        at = rows[room]
        out[room, k] = replica_cost_per_h(
            request.objective,
            request.carbon_price_usd_per_tonne,
            carbon_g_per_kwh=carbon[at],
            renewable_kw=snap.renewable_kw[at],
            price_per_kwh=price[at],
            it_draw_kw=draw[room] + k * request.power_kw,
            power_kw=request.power_kw,
        )
    return out


@dataclass(frozen=True)
class Reach:
    """RTTs from some rows of the snapshot to one deployment's demand points."""

    rows: npt.NDArray[np.intp]  # sorted and unique
    rtt_ms: npt.NDArray[np.float32]  # (len(rows), D)
    measured: BoolArray  # (len(rows), D)

    def at(self, rows: npt.NDArray[np.intp] | Sequence[int]) -> npt.NDArray[np.intp]:
        """Positions of snapshot rows (which must be among `rows`) in this table."""
        return np.searchsorted(self.rows, np.asarray(rows, dtype=np.intp))


def reach_with(
    ctx: PlacementContext, reach: Reach, rows: npt.NDArray[np.intp] | Sequence[int]
) -> Reach:
    """`reach` extended with the RTTs of the `rows` it lacks."""
    rows = np.asarray(rows, dtype=np.intp)
    pos = np.minimum(np.searchsorted(reach.rows, rows), max(0, len(reach.rows) - 1))
    lacking = rows if len(reach.rows) == 0 else rows[reach.rows[pos] != rows]
    missing = np.unique(lacking)
    if len(missing) == 0:
        return reach
    matrix = ctx.index.rtt_rows(ctx.request.demand, missing)
    extra = Reach(missing, matrix.rtt_ms, matrix.measured)
    order = np.argsort(np.concatenate([reach.rows, extra.rows]), kind="stable")
    return Reach(
        np.concatenate([reach.rows, extra.rows])[order],
        np.concatenate([reach.rtt_ms, extra.rtt_ms])[order],
        np.concatenate([reach.measured, extra.measured])[order],
    )


def reach_of(ctx: PlacementContext, rows: npt.NDArray[np.intp] | Sequence[int]) -> Reach:
    """RTTs from `rows` to the request's demand points (measured where known).

    Memoised per request on the snapshot's index, growing as calls ask for
    more rows, so re-placing a replica reuses what the first call computed.
    """
    wanted = np.unique(np.asarray(rows, dtype=np.intp))
    key = ("reach", id(ctx.request))
    hit = ctx.index.memo(key)
    known: Reach | None = hit[1] if isinstance(hit, tuple) and hit[0] is ctx.request else None
    if known is None:
        matrix = ctx.index.rtt_rows(ctx.request.demand, wanted)
        known = Reach(wanted, matrix.rtt_ms, matrix.measured)
    else:
        known = reach_with(ctx, known, wanted)
    ctx.index.remember(key, (ctx.request, known), known.rtt_ms.nbytes + known.measured.nbytes)
    at = known.at(wanted)
    if len(at) == len(known.rows):
        return known
    return Reach(wanted, known.rtt_ms[at], known.measured[at])


def locate(
    ctx: PlacementContext,
    reach: Reach,
    candidates: npt.NDArray[np.intp],
    n_new: int,
    kept: Sequence[int],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.intp], facility.Solution]:
    """Where `n_new` replicas go among the `candidates` rows, with the `kept` rows' replicas fixed.

    `reach` holds the RTTs of the candidates and the kept rows. Returns the
    searched rows and the solution over them (replicas per row).
    """
    request = ctx.request
    kept_rows = np.unique(np.asarray(kept, dtype=np.intp))
    kept_rtt = reach.rtt_ms[reach.at(kept_rows)]
    fixed_count = covers(kept_rtt, request.latency_slo_ms).sum(axis=0).astype(np.int32)
    fixed_rtt = (
        kept_rtt.min(axis=0).astype(np.float64)
        if len(kept_rows)
        else np.full(len(request.demand), np.inf)
    )
    rtt = reach.rtt_ms[reach.at(candidates)]
    within = covers(rtt, request.latency_slo_ms)
    cost = slot_costs(ctx, candidates, max(1, n_new))
    if n_new > 1:  # a single replica is placed exactly over every candidate
        keep = facility.reduce_candidates(within, rtt, cost[:, 0], n_new + request.min_sites)
        candidates, within, rtt, cost = candidates[keep], within[keep], rtt[keep], cost[keep]
    problem = facility.Problem(
        covers=within,
        rtt_ms=rtt,
        weight=demand_weights(request),
        cost=cost,
        n_new=n_new,
        min_sites=min(request.min_sites, n_new + len(kept)),
        fixed_count=fixed_count,
        fixed_rtt_ms=fixed_rtt,
        fixed_on=np.isin(candidates, kept_rows),
        fixed_sites=len(kept_rows),
    )
    return candidates, facility.solve(problem, rng)


def bind(ctx: PlacementContext, row: int) -> int | None:
    """Take one replica's GPUs and kW on `row`; returns the GPU column used."""
    column = ctx.gpu_column_at(row)
    ctx.fleet.bind(row, column, ctx.request.gpus if column is not None else 0, ctx.request.power_kw)
    return column


def nearest_replica(reach: Reach, replica_rows: Sequence[int]) -> npt.NDArray[np.intp]:
    """For each demand point, the row of the replica node nearest to it (-1 without replicas)."""
    nodes = np.unique(np.asarray(replica_rows, dtype=np.intp))
    if len(nodes) == 0:
        return np.full(reach.rtt_ms.shape[1], -1, dtype=np.intp)
    return nodes[np.argmin(reach.rtt_ms[reach.at(nodes)], axis=0)]


def explain(
    ctx: PlacementContext,
    reach: Reach,
    row: int,
    serves: npt.NDArray[np.intp],
    share: float,
    verdict: Feasibility,
    gpu_model: str,
) -> PlacementExplanation:
    """Row `row`'s figures as they stand before binding, what it serves, and the rejections."""
    snap, request = ctx.snapshot, ctx.request
    here = slice(row, row + 1)
    draw = ctx.fleet.it_draw_kw[here]
    at = int(reach.at([row])[0])
    points = serves if len(serves) else np.arange(len(request.demand))
    weight = demand_weights(request)[points]
    rtt = reach.rtt_ms[at, points].astype(np.float64)
    total = len(snap)
    carbon_per_h = carbon_g_per_h(
        snap.carbon_g_per_kwh[here], snap.renewable_kw[here], draw, request.power_kw
    )
    cost = replica_cost_per_h(
        request.objective,
        request.carbon_price_usd_per_tonne,
        carbon_g_per_kwh=snap.carbon_g_per_kwh[here],
        renewable_kw=snap.renewable_kw[here],
        price_per_kwh=snap.price_per_kwh[here],
        it_draw_kw=draw,
        power_kw=request.power_kw,
    )
    return PlacementExplanation(
        node=str(snap.names[row]),
        rtt_ms=float(weight @ rtt / weight.sum()) if len(points) and weight.sum() > 0 else 0.0,
        rtt_source="measured" if reach.measured[at, points].all() else "estimated",
        carbon_g_per_kwh=float(
            marginal_carbon_g_per_kwh(
                snap.carbon_g_per_kwh[here], snap.renewable_kw[here], draw, request.power_kw
            )[0]
        ),
        carbon_g_per_h=float(carbon_per_h[0]) if request.power_kw > 0 else 0.0,
        renewable_share=float(renewable_share(snap.renewable_kw[here], draw, request.power_kw)[0]),
        headroom_kw=float(ctx.fleet.headroom_kw[row]),
        price_per_kwh=float(snap.price_per_kwh[row]),
        score=float(cost[0]),
        serves=[request.demand[d].name for d in serves],
        demand_share=share,
        gpu_model=gpu_model,
        rejected=verdict.rejected,
        feasible_nodes=verdict.count,
        total_nodes=total,
        message=availability_message(verdict.count, total, verdict.rejected),
    )


def bind_solution(
    ctx: PlacementContext,
    reach: Reach,
    rows: npt.NDArray[np.intp],
    counts: IntArray,
    kept: Sequence[int],
    verdict: Feasibility,
) -> list[Placement]:
    """Bind the solution's replicas, cheapest site first, and explain each."""
    chosen = [(int(rows[c]), int(counts[c])) for c in np.flatnonzero(counts)]
    nearest = nearest_replica(reach, [*kept, *(r for r, _ in chosen)])
    weight = demand_weights(ctx.request)
    every = [*kept, *(r for r, k in chosen for _ in range(k))]
    on_node = np.bincount(np.array(every, np.intp), minlength=len(ctx.snapshot))
    placements: list[Placement] = []
    for row, k in chosen:
        serves = np.flatnonzero(nearest == row)
        share = float(weight[serves].sum()) / max(1, int(on_node[row]))
        for _ in range(k):
            column = ctx.gpu_column_at(row)
            model = ctx.snapshot.gpu_models[column] if column is not None else ""
            explanation = explain(ctx, reach, row, serves, share, verdict, model)
            bind(ctx, row)
            placements.append(Placement(len(placements), row, explanation.node, model, explanation))
    return placements


def _unschedulable(
    total_nodes: int,
    verdict: Feasibility | None,
    placed: list[Placement],
    missing: int,
    message: str = "",
) -> Unschedulable:
    """The result of a call that could not place every replica (or could not start)."""
    rejected = verdict.rejected if verdict else {}
    feasible = verdict.count if verdict else 0
    if not message:
        message = availability_message(feasible, total_nodes, rejected)
        if feasible:
            message = f"{missing} replica(s) did not fit ({len(placed)} did): {message}"
    return Unschedulable(
        placed=tuple(placed),
        missing=missing,
        explanation=PlacementExplanation(
            rejected=rejected, feasible_nodes=feasible, total_nodes=total_nodes, message=message
        ),
    )


def place(
    snapshot: FleetSnapshot,
    request: PlacementRequest,
    n_replicas: int,
    *,
    existing: Sequence[str] = (),
    seed: int | None = None,
    index: FleetIndex | None = None,
    chain: Chain | None = None,
    fleet: FleetState | None = None,
) -> list[Placement] | Unschedulable:
    """Place `n_replicas` new replicas of `request` on `snapshot`.

    `existing` names the nodes of the deployment's running replicas (one entry
    per replica), which are kept and serve as they are. `seed` fixes
    tie-breaking (default: from the deployment name). `index` is the
    snapshot's FleetIndex, if the caller keeps one. `fleet`, if given, is
    capacity the caller has bound since the snapshot was taken; it is updated
    in place with this call's replicas. Returns one Placement per replica, or
    Unschedulable with those that fit and why the rest did not.
    """
    if index is None:
        index = FleetIndex(snapshot)
    elif index.snapshot is not snapshot:
        raise ValueError("index was built for a different snapshot")
    try:
        ctx = build_context(index, request, fleet=fleet)
    except UnknownRegionError as err:
        return _unschedulable(len(snapshot), None, [], n_replicas, message=str(err))
    if n_replicas <= 0:
        return []
    chain = chain or DEFAULT_CHAIN
    verdict = feasibility(ctx, chain)
    if verdict.count == 0:
        return _unschedulable(len(snapshot), verdict, [], n_replicas)
    rng = np.random.default_rng(default_seed(request) if seed is None else seed)
    kept = index.rows(existing)
    candidates = np.flatnonzero(verdict.mask)
    reach = reach_of(ctx, np.concatenate([candidates, np.asarray(kept, dtype=np.intp)]))
    rows, solution = locate(ctx, reach, candidates, n_replicas, kept, rng)
    placed = bind_solution(ctx, reach, rows, solution.counts, kept, verdict)
    if len(placed) < n_replicas:
        sites = len(set(kept) | set(rows[solution.counts > 0].tolist()))
        message = ""
        if sites < request.min_sites:
            message = (
                f"{n_replicas - len(placed)} replica(s) did not fit ({len(placed)} did): "
                f"minSites {request.min_sites} needs more nodes with room; "
                + availability_message(verdict.count, len(snapshot), verdict.rejected)
            )
        return _unschedulable(len(snapshot), verdict, placed, n_replicas - len(placed), message)
    return placed

"""The placement runner: filter, score, normalise, choose, bind, explain, one replica at a time.

`place` is the scheduler's core and a pure function of its inputs: the same
snapshot, request and seed give the same placements. For each replica it
applies the chain's filters (counting every rejected node once, under the first
filter that rejected it), weighs the normalised scores, chooses the cheapest
feasible node (ties broken by a seeded generator, so a decision replays), and
binds it on local copies of the capacity arrays so the next replica sees the
GPUs and kW as taken. Everything that does not change between replicas (static
filters, static scores, the demand RTT vector, the normalisation ranges) is
computed once per call; what remains per replica is a handful of vector
operations over the nodes that passed the static filters.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import BoolArray, FleetSnapshot, FloatArray
from controlplane.resources import PlacementExplanation
from controlplane.scheduler import filters, scores
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import (
    Filter,
    FleetState,
    PlacementContext,
    Registry,
    Score,
    SpreadState,
    normalise,
)
from controlplane.scheduler.geo import UnknownRegionError
from controlplane.scheduler.request import PlacementRequest
from controlplane.scheduler.scores.carbon import marginal_carbon_g_per_kwh
from controlplane.scheduler.scores.renewable import renewable_share

TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Chain:
    """The filters, in the order they run, and the scores a placement weighs."""

    filters: tuple[Filter, ...]
    scores: tuple[Score, ...]


def default_registry() -> Registry:
    """Every built-in filter and score, by name."""
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
            filters.LatencySlo(),
        ),
        scores=(
            scores.Latency(),
            scores.Carbon(),
            scores.Renewable(),
            scores.Price(),
            scores.Spread(),
        ),
    )


def build_chain(registry: Registry | None = None) -> Chain:
    """The default chain. The order of the filters is the order of the explanation.

    1. Node state (`ready`, `cordon`): one boolean column each, and a node that
       cannot run anything is best reported as such, whatever else is wrong.
    2. The request's constraints (`tier`, `privacy`, `residency`, `taints`): static
       for the call, computed once; taints last, the only one with a Python loop
       (over the fleet's distinct sets of taints).
    3. Capacity (`gpus`, `power`): the only filters recomputed for every replica,
       because each bound replica uses GPUs and kW.
    4. `latency_slo` last: it needs the deployment's demand RTT vector, the most
       expensive input to build, which is skipped when no node survives 1-3.
    """
    r = registry or default_registry()
    return Chain(
        filters=tuple(
            r.filter(name)
            for name in (
                "ready",
                "cordon",
                "tier",
                "privacy",
                "residency",
                "taints",
                "gpus",
                "power",
                "latency_slo",
            )
        ),
        scores=tuple(
            r.score(name) for name in ("latency", "carbon", "renewable", "price", "spread")
        ),
    )


DEFAULT_CHAIN = build_chain()


@dataclass(frozen=True)
class Placement:
    """One replica bound to one node, and why it went there."""

    replica: int  # index of the replica within the call
    row: int  # the node's row in the snapshot
    node: str
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
    """Which nodes may take the next replica, and how many each filter rejected."""

    mask: BoolArray
    count: int
    rejected: dict[str, int]  # reason -> nodes, in chain order, zero counts left out


def availability_message(feasible: int, total: int, rejected: dict[str, int]) -> str:
    """'0/240 nodes available: 180 power headroom, 60 latency SLO'."""
    head = f"{feasible}/{total} nodes available"
    if not rejected:
        return head
    return head + ": " + ", ".join(f"{n} {reason}" for reason, n in rejected.items())


def default_seed(request: PlacementRequest) -> int:
    """A stable seed per deployment, so its tie-breaks replay but differ from other deployments'."""
    return zlib.crc32(request.deployment.encode())


def build_context(
    index: FleetIndex,
    request: PlacementRequest,
    n_replicas: int,
    *,
    existing: Sequence[str] = (),
    fleet: FleetState | None = None,
) -> PlacementContext:
    """The context for one call; `existing` names the nodes of the deployment's running replicas.

    Raises UnknownRegionError if a demand region has no known location.
    """
    for d in request.demand:
        if (d.lat is None or d.lon is None) and d.region not in index.region_coords:
            raise UnknownRegionError(d.region)
    snap = index.snapshot
    rows = np.array(index.rows(existing), dtype=np.intp)
    spread = SpreadState(
        node_replicas=np.bincount(rows, minlength=len(snap)).astype(np.int32),
        region_replicas=np.bincount(
            index.region_code[rows], minlength=len(index.region_names)
        ).astype(np.int32),
        total_replicas=len(existing) + n_replicas,
    )
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
        spread=spread,
        gpu_columns=columns,
    )


class Evaluator:
    """Runs one chain over one context, caching what does not change between replicas.

    The first `feasible()` runs every filter over the whole fleet. With
    `narrow`, it then keeps only the nodes that passed every static filter
    (`rows`): the others' verdicts cannot change while the call binds replicas
    on feasible nodes, so their rejections are counted once, and each later
    `feasible()`, `cost()` and score runs over `rows` alone. Masks, costs and
    positions are over `rows`; `row(i)` turns a position into a snapshot row.
    Call `fix_scales(mask)` once, with the first verdict's mask, before `cost()`.
    Re-planning, which binds and unbinds anywhere, uses `narrow=False`.
    """

    def __init__(self, ctx: PlacementContext, chain: Chain, *, narrow: bool = True) -> None:
        self.ctx = ctx
        self.chain = chain
        self._narrow = narrow
        self._dynamic = tuple(f for f in chain.filters if f.per_replica)
        self._static_masks: dict[str, BoolArray] = {}
        self._fixed_rejections: dict[str, int] = {}
        self._rows: npt.NDArray[np.intp] | None = None
        weights = ctx.request.weights
        weight = {s.name: float(weights.get(s.name, 0.0)) for s in chain.scores}
        total = sum(weight.values())
        self._share = {k: (w / total if total > 0 else 0.0) for k, w in weight.items()}
        self._scales: dict[str, tuple[float, float]] = {}
        self._static_cost: FloatArray | None = None

    def row(self, i: int) -> int:
        """The snapshot row of position `i` in this evaluator's masks and costs."""
        return i if self._rows is None else int(self._rows[i])

    def mask(self, f: Filter) -> BoolArray:
        """The filter's verdict over the current rows (static verdicts computed once)."""
        if f.per_replica:
            return f(self.ctx)
        cached = self._static_masks.get(f.name)
        if cached is None:
            cached = self._static_masks[f.name] = f(self.ctx)
        return cached

    def _apply(self, chain: tuple[Filter, ...], n: int) -> Feasibility:
        """Filters in chain order over `n` rows; each rejection counted under the first."""
        alive = np.ones(n, dtype=np.bool_)
        left = n
        rejected: dict[str, int] = {}
        for f in chain:
            if left == 0:
                break
            alive &= self.mask(f)
            now = int(np.count_nonzero(alive))
            if now < left:
                rejected[f.reason] = rejected.get(f.reason, 0) + left - now
            left = now
        return Feasibility(mask=alive, count=left, rejected=rejected)

    def feasible(self) -> Feasibility:
        """Which rows may take the next replica, and the rejections over the whole fleet."""
        rows = self._rows
        if rows is None:
            verdict = self._apply(self.chain.filters, len(self.ctx.snapshot))
            if not self._narrow or verdict.count == 0:
                return verdict
            rows = self._narrow_to_static(verdict)
        verdict = self._apply(self._dynamic, len(rows))
        rejected = dict(self._fixed_rejections)
        for reason, n in verdict.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + n
        return Feasibility(
            mask=verdict.mask,
            count=verdict.count,
            rejected=dict(sorted(rejected.items(), key=self._chain_order)),
        )

    def _chain_order(self, item: tuple[str, int]) -> int:
        return next(i for i, f in enumerate(self.chain.filters) if f.reason == item[0])

    def _narrow_to_static(self, verdict: Feasibility) -> npt.NDArray[np.intp]:
        """Keep the rows that pass every static filter; freeze the others' rejections."""
        passing = np.ones(len(self.ctx.snapshot), dtype=np.bool_)
        for f in self.chain.filters:
            if not f.per_replica:
                passing &= self._static_masks[f.name]
        rows = np.flatnonzero(passing)
        self._static_masks = {k: m[rows] for k, m in self._static_masks.items()}
        self.ctx = self.ctx.narrowed(rows)
        self._rows = rows
        among_rows = self._apply(self._dynamic, len(rows)).rejected
        self._fixed_rejections = {
            reason: n - among_rows.get(reason, 0)
            for reason, n in verdict.rejected.items()
            if n > among_rows.get(reason, 0)
        }
        return rows

    def fix_scales(self, feasible: BoolArray) -> None:
        """Take each weighted score's normalisation range over the `feasible` rows."""
        static = np.zeros(feasible.shape)
        for s in self.chain.scores:
            if self._share[s.name] == 0.0:
                continue
            values = s(self.ctx)
            lo, hi = s.bounds(self.ctx, values, feasible)
            self._scales[s.name] = (lo, hi)
            if not s.per_replica:
                static += self._share[s.name] * normalise(values, lo, hi, s.better)
        self._static_cost = static

    def share(self, score: str) -> float:
        """The score's weight as a share of the chain's total weight (0 if unweighted)."""
        return self._share.get(score, 0.0)

    @property
    def scales(self) -> dict[str, tuple[float, float]]:
        """Normalisation range per weighted score, as fixed by `fix_scales`."""
        return dict(self._scales)

    def cost(self) -> FloatArray:
        """Weighted mean of the normalised scores per row, in [0, 1]; lower is better."""
        if self._static_cost is None:
            raise RuntimeError("fix_scales() must be called before cost()")
        total = self._static_cost
        for s in self.chain.scores:
            if s.per_replica and self._share[s.name] > 0.0:
                lo, hi = self._scales[s.name]
                total = total + self._share[s.name] * normalise(s(self.ctx), lo, hi, s.better)
        return total

    def explain(self, row: int, cost: float, verdict: Feasibility) -> PlacementExplanation:
        """The figures of snapshot row `row` as they stand now, and the rejections."""
        ctx, snap = self.ctx, self.ctx.snapshot
        power_kw = ctx.request.power_kw
        draw = ctx.fleet.it_draw_kw[row : row + 1]
        total = len(snap)
        return PlacementExplanation(
            node=str(snap.names[row]),
            rtt_ms=float(ctx.rtt_ms[row]),
            carbon_g_per_kwh=float(
                marginal_carbon_g_per_kwh(
                    snap.carbon_g_per_kwh[row : row + 1],
                    snap.renewable_kw[row : row + 1],
                    draw,
                    power_kw,
                )[0]
            ),
            renewable_share=float(
                renewable_share(snap.renewable_kw[row : row + 1], draw, power_kw)[0]
            ),
            headroom_kw=float(ctx.fleet.headroom_kw[row]),
            price_per_kwh=float(snap.price_per_kwh[row]),
            score=float(cost),
            rejected=verdict.rejected,
            feasible_nodes=verdict.count,
            total_nodes=total,
            message=availability_message(verdict.count, total, verdict.rejected),
        )


def choose(cost: FloatArray, mask: BoolArray, rng: np.random.Generator) -> int:
    """Position of the feasible node of least cost; among equal ones, a seeded random pick."""
    masked = np.where(mask, cost, np.inf)
    best = masked.min()
    ties = np.flatnonzero(masked <= best + TIE_TOLERANCE)
    return int(ties[0]) if len(ties) == 1 else int(ties[rng.integers(len(ties))])


def bind(ctx: PlacementContext, row: int) -> int | None:
    """Take one replica's GPUs, kW and spread on `row`; returns the GPU column used."""
    column = ctx.gpu_column_at(row)
    ctx.fleet.bind(row, column, ctx.request.gpus if column is not None else 0, ctx.request.power_kw)
    ctx.spread.add(row, int(ctx.index.region_code[row]))
    return column


def _unschedulable(
    total_nodes: int,
    verdict: Feasibility | None,
    placed: list[Placement],
    missing: int,
    message: str = "",
) -> Unschedulable:
    """The result of a call that ran out of feasible nodes (or could not start)."""
    rejected = verdict.rejected if verdict else {}
    return Unschedulable(
        placed=tuple(placed),
        missing=missing,
        explanation=PlacementExplanation(
            rejected=rejected,
            feasible_nodes=0,
            total_nodes=total_nodes,
            message=message or availability_message(0, total_nodes, rejected),
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
    """Place `n_replicas` replicas of `request` on `snapshot`.

    `existing` names the nodes of the deployment's running replicas (one entry
    per replica; for spread). `seed` fixes tie-breaking (default: from the
    deployment name). `index` is the snapshot's FleetIndex, if the caller keeps
    one. `fleet`, if given, is capacity the caller has bound since the snapshot
    was taken; it is updated in place with this call's replicas. Returns one
    Placement per replica, or Unschedulable with those that fit and why the rest
    did not.
    """
    if index is None:
        index = FleetIndex(snapshot)
    elif index.snapshot is not snapshot:
        raise ValueError("index was built for a different snapshot")
    try:
        ctx = build_context(index, request, n_replicas, existing=existing, fleet=fleet)
    except UnknownRegionError as err:
        return _unschedulable(len(snapshot), None, [], n_replicas, message=str(err))
    evaluator = Evaluator(ctx, chain or DEFAULT_CHAIN)
    rng = np.random.default_rng(default_seed(request) if seed is None else seed)
    placed: list[Placement] = []
    for i in range(n_replicas):
        verdict = evaluator.feasible()
        if verdict.count == 0:
            return _unschedulable(len(snapshot), verdict, placed, n_replicas - i)
        if i == 0:
            evaluator.fix_scales(verdict.mask)
        cost = evaluator.cost()
        best = choose(cost, verdict.mask, rng)
        row = evaluator.row(best)
        explanation = evaluator.explain(row, float(cost[best]), verdict)
        placed.append(Placement(replica=i, row=row, node=explanation.node, explanation=explanation))
        bind(ctx, row)
    return placed

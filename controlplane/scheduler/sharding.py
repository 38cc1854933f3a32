"""Sharding by region: split a fleet into per-region snapshots, and choose regions first.

A very large fleet is scored faster by several actors at once, each holding the
nodes of some regions. The top-level step runs once per call over the whole
fleet, and is cheap because it looks at each node once, not once per replica:
it takes the nodes feasible for one replica, how many replicas each could hold,
and each region's best cost, then hands replicas to regions one at a time
(cheapest first, with the region half of the spread score, so a deployment
still spreads), never beyond a region's capacity. Each shard then places its
share among its own nodes with the full pipeline.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import FleetSnapshot, IntArray
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import FleetState, PlacementContext
from controlplane.scheduler.geo import UnknownRegionError
from controlplane.scheduler.pipeline import DEFAULT_CHAIN, Chain, Evaluator, build_context
from controlplane.scheduler.request import PlacementRequest


def take_rows(snapshot: FleetSnapshot, rows: npt.NDArray[np.integer[Any]]) -> FleetSnapshot:
    """The snapshot restricted to `rows` (in that order), taints renumbered."""
    new_row = {int(old): new for new, old in enumerate(rows)}
    return FleetSnapshot(
        names=snapshot.names[rows],
        ready=snapshot.ready[rows],
        unschedulable=snapshot.unschedulable[rows],
        tier=snapshot.tier[rows],
        region=snapshot.region[rows],
        country=snapshot.country[rows],
        lat=snapshot.lat[rows],
        lon=snapshot.lon[rows],
        gpu_models=snapshot.gpu_models,
        gpu_memory_gb=snapshot.gpu_memory_gb[rows],
        gpus_total=snapshot.gpus_total[rows],
        gpus_free=snapshot.gpus_free[rows],
        budget_kw=snapshot.budget_kw[rows],
        it_draw_kw=snapshot.it_draw_kw[rows],
        renewable_kw=snapshot.renewable_kw[rows],
        carbon_g_per_kwh=snapshot.carbon_g_per_kwh[rows],
        price_per_kwh=snapshot.price_per_kwh[rows],
        taints={new_row[r]: t for r, t in snapshot.taints.items() if r in new_row},
        revision=snapshot.revision,
    )


def balance_regions(snapshot: FleetSnapshot, n_shards: int) -> list[tuple[str, ...]]:
    """Regions grouped into at most `n_shards` groups of about equal node count."""
    names, counts = np.unique(snapshot.region, return_counts=True)
    groups: list[list[str]] = [[] for _ in range(max(1, min(n_shards, len(names))))]
    load = [0] * len(groups)
    for k in np.argsort(-counts, kind="stable"):
        lightest = load.index(min(load))
        groups[lightest].append(str(names[k]))
        load[lightest] += int(counts[k])
    return [tuple(sorted(g)) for g in groups if g]


def replica_capacity(ctx: PlacementContext, n_max: int) -> IntArray:
    """How many replicas of the request each node could still hold, capped at `n_max`."""
    request, fleet = ctx.request, ctx.fleet
    cap = np.full(len(ctx.snapshot), n_max, dtype=np.int64)
    if request.gpus > 0:
        columns = list(ctx.gpu_columns)
        fits = np.where(ctx.gpu_memory_ok, fleet.gpus_free[:, columns] // request.gpus, 0)
        cap = np.minimum(cap, fits.max(axis=1, initial=0))
    if request.power_kw > 0:
        by_power = np.floor(np.maximum(fleet.headroom_kw, 0) / request.power_kw)
        cap = np.minimum(cap, by_power.astype(np.int64))
    return np.maximum(cap, 0)


def choose_regions(
    snapshot: FleetSnapshot,
    request: PlacementRequest,
    n_replicas: int,
    *,
    existing: Sequence[str] = (),
    index: FleetIndex | None = None,
    chain: Chain | None = None,
    fleet: FleetState | None = None,
    exclude: Collection[str] = (),
) -> dict[str, int]:
    """Replicas per region for the shards to place; fewer in all if the fleet lacks room.

    `fleet` (not modified) is capacity the caller has bound since the snapshot;
    `exclude` names regions not to use (e.g. whose shard found no room).
    """
    index = index or FleetIndex(snapshot)
    try:
        ctx = build_context(index, request, n_replicas, existing=existing, fleet=fleet)
    except UnknownRegionError:
        return {}
    ev = Evaluator(ctx, chain or DEFAULT_CHAIN, narrow=False)
    verdict = ev.feasible()
    mask = verdict.mask & ~np.isin(index.region_code, index.region_of(exclude))
    if not mask.any():
        return {}
    ev.fix_scales(mask)
    cost = ev.cost()
    code, n_regions = index.region_code, len(index.region_names)
    capacity = np.bincount(
        code, weights=np.where(mask, replica_capacity(ctx, n_replicas), 0), minlength=n_regions
    ).astype(np.int64)
    best = np.full(n_regions, np.inf)
    np.minimum.at(best, code[mask], cost[mask])
    in_region = ctx.spread.region_replicas.astype(np.float64)
    spread_share = ev.share("spread") / (2.0 * ctx.spread.total_replicas)
    alloc = np.zeros(n_regions, dtype=np.int64)
    for _ in range(n_replicas):
        open_ = alloc < capacity
        if not open_.any():
            break
        region_cost = np.where(open_, best + spread_share * (in_region + alloc), np.inf)
        alloc[int(np.argmin(region_cost))] += 1
    return {index.region_names[r]: int(alloc[r]) for r in np.flatnonzero(alloc)}

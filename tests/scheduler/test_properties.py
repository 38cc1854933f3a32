"""Hypothesis: whatever the fleet and the request, placements respect every hard constraint.

Never more GPUs than are free, never more kW than the headroom; residency,
privacy, tier, readiness, cordons, taints and min_sites always hold; the
explanation accounts for every node; a seed replays the same decisions; no
single move of one replica would have served more demand within the SLO, or
as much for less energy; and re-planning never serves less demand within the
SLO than the placement it starts from.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.inventory.snapshot import TIERS, FleetSnapshot, NodeTaint
from controlplane.scheduler import FleetIndex, PlacementRequest, Unschedulable, facility, place
from controlplane.scheduler.filters.taints import tolerated
from controlplane.scheduler.framework import FleetState
from controlplane.scheduler.pipeline import (
    DEFAULT_CHAIN,
    build_context,
    covers,
    demand_weights,
    feasibility,
    reach_of,
    slot_costs,
)
from controlplane.scheduler.replan import DeploymentReplicas, RunningReplica, replan
from controlplane.scheduler.request import Demand, Toleration
from controlplane.scheduler.routes import assign_routes
from tests.scheduler.fleets import REGIONS, FakeNode, snapshot_of

TAINT = NodeTaint("dedicated", "batch", "NoSchedule")


@st.composite
def fleets(draw: st.DrawFn) -> list[FakeNode]:
    n = draw(st.integers(1, 25))
    nodes = []
    for i in range(n):
        region, country, lat, lon = draw(st.sampled_from(REGIONS))
        budget = draw(st.floats(1, 300))
        nodes.append(
            FakeNode(
                name=f"n{i}",
                tier=draw(st.sampled_from(TIERS)),
                region=region,
                country=country,
                lat=lat + draw(st.floats(-3, 3)),
                lon=lon + draw(st.floats(-3, 3)),
                gpus_free={"H100": draw(st.integers(0, 8)), "L4": draw(st.integers(0, 4))},
                budget_kw=budget,
                it_draw_kw=budget * draw(st.floats(0, 1.2)),
                renewable_kw=draw(st.floats(0, 300)),
                carbon_g_per_kwh=draw(st.floats(0, 800)),
                price_per_kwh=draw(st.floats(0.01, 0.5)),
                ready=draw(st.booleans()),
                cordoned=draw(st.booleans()),
                taints=draw(st.sampled_from([(), (TAINT,)])),
            )
        )
    return nodes


@st.composite
def requests(draw: st.DrawFn) -> PlacementRequest:
    points = draw(st.lists(st.sampled_from(REGIONS), max_size=3))
    return PlacementRequest(
        deployment=draw(st.sampled_from(["chat", "code"])),
        gpus=draw(st.integers(0, 4)),
        gpu_model=draw(st.sampled_from(["H100", "L4", ""])),
        gpu_memory_gb=draw(st.sampled_from([0.0, 24.0, 40.0])),
        power_kw=draw(st.floats(0, 60)),
        demand=tuple(Demand(r, draw(st.floats(0.1, 3)), la, lo) for r, _, la, lo in points),
        latency_slo_ms=draw(st.none() | st.floats(2, 150)),
        tiers=tuple(draw(st.sets(st.sampled_from(TIERS), max_size=2))),
        regions=tuple(draw(st.sets(st.sampled_from([r[0] for r in REGIONS]), max_size=3))),
        countries=tuple(draw(st.sets(st.sampled_from(["DE", "SE", "GB", "US"]), max_size=2))),
        edge_only=draw(st.booleans()),
        tolerations=draw(st.sampled_from([(), (Toleration("dedicated"),)])),
        min_sites=draw(st.integers(1, 3)),
        objective=draw(st.sampled_from(["carbon", "price", "cost"])),
    )


def assert_allowed(node: FakeNode, request: PlacementRequest) -> None:
    assert node.ready and not node.cordoned
    assert not request.tiers or node.tier in request.tiers
    assert not request.edge_only or node.tier == "edge"
    assert not request.regions or node.region in request.regions
    assert not request.countries or node.country in request.countries
    assert all(tolerated(t, request.tolerations) for t in node.taints)


def attainment(snap: FleetSnapshot, request: PlacementRequest, nodes: list[str]) -> float:
    running = [(f"r{i}", n) for i, n in enumerate(nodes) if n]
    return assign_routes(FleetIndex(snap), request, running).attainment or 0.0


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(nodes=fleets(), request=requests(), n=st.integers(1, 12), seed=st.integers(0, 2**32))
def test_placements_respect_capacity_and_constraints(
    nodes: list[FakeNode], request: PlacementRequest, n: int, seed: int
) -> None:
    snap = snapshot_of(nodes)
    fleet = FleetState.from_snapshot(snap)
    result = place(snap, request, n, seed=seed, fleet=fleet)
    placements = list(result.placed) if isinstance(result, Unschedulable) else result
    if isinstance(result, Unschedulable):
        assert len(placements) + result.missing == n
        e = result.explanation
        assert e.feasible_nodes + sum(e.rejected.values()) == e.total_nodes == len(nodes)
    else:
        assert len(placements) == n
    per_node = Counter(p.row for p in placements)
    for row, count in per_node.items():
        node = nodes[row]
        assert_allowed(node, request)
        headroom = node.budget_kw - node.it_draw_kw
        assert count * request.power_kw <= headroom + 1e-9
        assert headroom >= 0
        if request.gpus and request.gpu_model:
            assert count * request.gpus <= node.gpus_free[request.gpu_model]
    assert (fleet.gpus_free >= np.minimum(snap.gpus_free, 0)).all()
    for p in placements:
        e = p.explanation
        assert e.feasible_nodes + sum(e.rejected.values()) == e.total_nodes == len(nodes)
        assert p.node == nodes[p.row].name
    if not isinstance(result, Unschedulable) and request.min_sites <= n:
        assert len(per_node) >= request.min_sites
    again = place(snap, request, n, seed=seed)
    assert [p.row for p in placements] == [
        p.row for p in (again.placed if isinstance(again, Unschedulable) else again)
    ]


@SETTINGS
@given(
    nodes=fleets(),
    request=requests(),
    n=st.integers(1, 8),
    seed=st.integers(0, 1000),
    budget_cut=st.floats(0.2, 1.0),
    max_moves=st.integers(0, 5),
)
def test_replan_respects_capacity_constraints_and_never_lowers_attainment(
    nodes: list[FakeNode],
    request: PlacementRequest,
    n: int,
    seed: int,
    budget_cut: float,
    max_moves: int,
) -> None:
    result = place(snapshot_of(nodes), request, n, seed=seed)
    placements = list(result.placed) if isinstance(result, Unschedulable) else result
    for p in placements:  # the fleet now runs them
        node = nodes[p.row]
        node.it_draw_kw += request.power_kw
        if request.gpus and request.gpu_model:
            node.gpus_free[request.gpu_model] -= request.gpus
    running = DeploymentReplicas(
        request, tuple(RunningReplica(f"r{i}", p.node) for i, p in enumerate(placements))
    )
    before = [p.node for p in placements]
    quiet = snapshot_of(nodes)
    after = list(before)
    for m in replan(quiet, [running], seed=seed):
        after[int(m.replica[1:])] = m.to_node or ""
    assert attainment(quiet, request, after) >= attainment(quiet, request, before) - 1e-9
    for node in nodes[::2]:  # then the budgets drop
        node.budget_kw *= budget_cut
    snap = snapshot_of(nodes)
    moves = replan(snap, [running], max_moves=max_moves, seed=seed)
    assert len({m.replica for m in moves}) == len(moves)
    optional = [m for m in moves if m.reason.startswith("better placement")]
    assert len(optional) <= max_moves
    arriving = Counter(m.to_node for m in moves if m.to_node)
    leaving = Counter(m.from_node for m in moves)
    by_name = {x.name: x for x in nodes}
    for name, count in arriving.items():
        node = by_name[name]
        assert_allowed(node, request)
        net = count - leaving[name]
        assert net * request.power_kw <= node.budget_kw - node.it_draw_kw + 1e-9
        if request.gpus and request.gpu_model:
            assert net * request.gpus <= node.gpus_free[request.gpu_model]
    shed = Counter(m.from_node for m in moves if m.reason.startswith("curtailment"))
    for name, count in shed.items():
        node = by_name[name]
        freed = count * request.power_kw
        stayed = sum(1 for p in placements if p.node == name) - count
        # shed only as many as needed: one fewer would not have brought it within budget
        assert node.it_draw_kw - freed <= node.budget_kw + 1e-9 or stayed == 0
        assert node.it_draw_kw - freed + request.power_kw > node.budget_kw - 1e-9


@SETTINGS
@given(nodes=fleets(), request=requests(), n=st.integers(1, 6), seed=st.integers(0, 1000))
def test_no_single_move_serves_more_or_as_much_for_less(
    nodes: list[FakeNode], request: PlacementRequest, n: int, seed: int
) -> None:
    """Placement is a local optimum of the objective's first two terms."""
    snap = snapshot_of(nodes)
    result = place(snap, request, n, seed=seed)
    if isinstance(result, Unschedulable):
        return
    ctx = build_context(FleetIndex(snap), request)
    feasible = np.flatnonzero(feasibility(ctx, DEFAULT_CHAIN).mask)
    reach = reach_of(ctx, feasible)
    cost = slot_costs(ctx, feasible, n)
    problem = facility.Problem(
        covers=covers(reach.rtt_ms, request.latency_slo_ms),
        rtt_ms=reach.rtt_ms.astype(np.float64),
        weight=demand_weights(request),
        cost=cost,
        n_new=n,
        min_sites=request.min_sites,
    )
    counts = np.zeros(len(feasible), np.int32)
    for p in result:
        counts[reach.at([p.row])[0]] += 1
    here = facility.evaluate(problem, counts)
    floor = min(int(np.count_nonzero(counts)), request.min_sites)
    for c in np.flatnonzero(counts):
        for j in range(len(feasible)):
            moved = counts.copy()
            moved[c] -= 1
            moved[j] += 1
            if j == c or not np.isfinite(cost[j, moved[j] - 1]):
                continue
            if np.count_nonzero(moved) < floor:
                continue
            there = facility.evaluate(problem, moved)
            assert there.uncovered >= here.uncovered - 1e-9
            if there.uncovered <= here.uncovered + 1e-9:
                assert there.energy >= here.energy - 1e-6 * max(1.0, here.energy)

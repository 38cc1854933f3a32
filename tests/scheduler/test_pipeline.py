"""The runner: choice, binding, explanations, partial failure, seeding, spread, the chain."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.inventory.snapshot import BoolArray, FloatArray
from controlplane.resources import ModelDeployment
from controlplane.scheduler import (
    DEFAULT_CHAIN,
    Better,
    Chain,
    Placement,
    PlacementContext,
    PlacementRequest,
    Unschedulable,
    availability_message,
    build_chain,
    default_registry,
    place,
    request_from_deployment,
)
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import FleetState
from controlplane.scheduler.request import Demand, Toleration
from tests.scheduler.fleets import FakeNode, random_fleet, snapshot_of

PARIS = Demand("paris", 1.0, 48.86, 2.35)


def placed(result: list[Placement] | Unschedulable) -> list[Placement]:
    assert isinstance(result, list), getattr(result, "message", "")
    return result


def test_message_format() -> None:
    assert availability_message(0, 240, {"power headroom": 180, "latency SLO": 60}) == \
        "0/240 nodes available: 180 power headroom, 60 latency SLO"
    assert availability_message(3, 3, {}) == "3/3 nodes available"


def test_each_node_counted_once_under_the_first_filter_in_chain_order() -> None:
    nodes = [
        FakeNode("nr", ready=False, budget_kw=1),  # not ready AND no power: counted as not ready
        FakeNode("co", cordoned=True),
        FakeNode("edge", tier="edge"),
        FakeNode("nogpu", gpus_free={}),
        FakeNode("nopower1", budget_kw=5, lat=40.7, lon=-74.0),  # also too far: power first
        FakeNode("nopower2", budget_kw=5),
        FakeNode("far", lat=40.7, lon=-74.0),
    ]
    result = place(snapshot_of(nodes), PlacementRequest(
        "d", gpus=1, gpu_model="H100", power_kw=10, demand=(PARIS,), latency_slo_ms=30,
        tiers=("factory",)), 1)
    assert isinstance(result, Unschedulable)
    assert result.missing == 1 and result.placed == ()
    assert result.message == ("0/7 nodes available: 1 not ready, 1 cordoned, 1 tier, "
                              "1 insufficient GPUs, 2 power headroom, 1 latency SLO")
    assert result.explanation.rejected == {
        "not ready": 1, "cordoned": 1, "tier": 1, "insufficient GPUs": 1, "power headroom": 2,
        "latency SLO": 1}
    assert result.explanation.total_nodes == 7 and result.explanation.feasible_nodes == 0


def test_prefers_near_clean_cheap_and_explains() -> None:
    nodes = [
        FakeNode("dirty", carbon_g_per_kwh=700, price_per_kwh=0.3, lat=48.9, lon=2.4),
        FakeNode("clean", carbon_g_per_kwh=40, price_per_kwh=0.05, lat=48.9, lon=2.4,
                 renewable_kw=500, it_draw_kw=100, budget_kw=1000),
        FakeNode("far", carbon_g_per_kwh=40, lat=40.7, lon=-74.0),
    ]
    request = PlacementRequest("d", gpus=1, gpu_model="H100", power_kw=10, demand=(PARIS,),
                               latency_slo_ms=50)
    (p,) = placed(place(snapshot_of(nodes), request, 1))
    assert p.node == "clean" and p.row == 1 and p.replica == 0
    e = p.explanation
    assert e.node == "clean"
    assert e.rtt_ms == pytest.approx(0.08, abs=0.2)
    assert e.carbon_g_per_kwh == 0.0 and e.renewable_share == 1.0
    assert e.headroom_kw == 900.0 and e.price_per_kwh == 0.05
    assert e.feasible_nodes == 2 and e.total_nodes == 3
    assert e.rejected == {"latency SLO": 1}
    assert e.message == "2/3 nodes available: 1 latency SLO"
    assert 0.0 <= e.score <= 1.0


def test_binding_takes_capacity_so_replicas_never_overcommit() -> None:
    nodes = [FakeNode("a", gpus_free={"H100": 4}, budget_kw=100),
             FakeNode("b", gpus_free={"H100": 8}, budget_kw=25)]
    request = PlacementRequest("d", gpus=2, gpu_model="H100", power_kw=10)
    result = place(snapshot_of(nodes), request, 6)
    assert isinstance(result, Unschedulable)
    assert sorted(p.node for p in result.placed) == ["a", "a", "b", "b"]  # 4/2 GPUs, 25/10 kW
    assert result.missing == 2
    assert result.message == "0/2 nodes available: 1 insufficient GPUs, 1 power headroom"


def test_caller_fleet_state_carries_binds_across_calls() -> None:
    snap = snapshot_of([FakeNode("a", gpus_free={"H100": 2})])
    request = PlacementRequest("d", gpus=2, gpu_model="H100")
    fleet = FleetState.from_snapshot(snap)
    assert len(placed(place(snap, request, 1, fleet=fleet))) == 1
    assert fleet.gpus_free[0, 0] == 0 and snap.gpus_free[0, 0] == 2
    assert isinstance(place(snap, request, 1, fleet=fleet), Unschedulable)


def test_spread_across_regions_and_existing_replicas() -> None:
    nodes = [FakeNode(f"{r}-{i}", region=r, carbon_g_per_kwh=100 + i)
             for r in ("eu", "us") for i in range(2)]
    request = PlacementRequest("d", gpus=1, gpu_model="H100", power_kw=1,
                               weights={"carbon": 0.1, "spread": 1.0})
    nodes_used = [p.node for p in placed(place(snapshot_of(nodes), request, 4))]
    assert sorted(nodes_used) == ["eu-0", "eu-1", "us-0", "us-1"]
    (p,) = placed(place(snapshot_of(nodes), request, 1, existing=["eu-0", "eu-1"]))
    assert p.node.startswith("us-")


def test_seeded_ties_replay_and_vary() -> None:
    snap = snapshot_of([FakeNode(f"n{i}") for i in range(20)])
    request = PlacementRequest("d", power_kw=1)
    runs = {seed: [p.node for p in placed(place(snap, request, 5, seed=seed))]
            for seed in (1, 2, 1)}
    assert runs[1] == [p.node for p in placed(place(snap, request, 5, seed=1))]
    assert len({tuple(v) for v in runs.values()}) == 2
    default = [p.node for p in placed(place(snap, request, 5))]
    assert default == [p.node for p in placed(place(snap, request, 5))]


def test_unknown_demand_region_is_unschedulable_with_a_message() -> None:
    result = place(snapshot_of([FakeNode("a")]),
                   PlacementRequest("d", demand=(Demand("x", 1.0, region="atlantis"),)), 1)
    assert isinstance(result, Unschedulable)
    assert result.message == "demand region 'atlantis' has no known location"


def test_demand_region_resolves_to_fleet_centroid() -> None:
    nodes = [FakeNode("fra", region="eu-west", lat=50.1, lon=8.7),
             FakeNode("nyc", region="us-east", lat=40.7, lon=-74.0)]
    request = PlacementRequest("d", demand=(Demand("eu", 1.0, region="eu-west"),),
                               latency_slo_ms=20)
    (p,) = placed(place(snapshot_of(nodes), request, 1))
    assert p.node == "fra"


def test_index_must_match_snapshot() -> None:
    snap = snapshot_of([FakeNode("a")])
    with pytest.raises(ValueError, match="different snapshot"):
        place(snap, PlacementRequest("d"), 1, index=FleetIndex(snapshot_of([FakeNode("a")])))


def test_request_from_deployment() -> None:
    dep = ModelDeployment.model_validate({
        "metadata": {"name": "chat"},
        "spec": {
            "model": {"name": "llama"},
            "resources": {"gpus": 2, "gpuModel": "H100", "gpuMemoryGb": 80, "powerKw": 1.5},
            "demand": [{"name": "paris", "lat": 48.86, "lon": 2.35, "weight": 2},
                       {"region": "eu-west"}],
            "latencySloMs": 40,
            "placement": {"tiers": ["edge"], "regions": ["eu-west"], "countries": ["FR"],
                          "privacy": "edge-only", "tolerations": [{"key": "gpu"}]},
            "energyPolicy": {"carbonWeight": 2, "moveThreshold": 0.3},
        },
    })
    r = request_from_deployment(dep)
    assert (r.deployment, r.gpus, r.gpu_model, r.gpu_memory_gb, r.power_kw) == \
        ("chat", 2, "H100", 80, 1.5)
    assert r.demand == (Demand("paris", 2.0, 48.86, 2.35), Demand("eu-west", 1.0, None, None,
                                                                  "eu-west"))
    assert (r.latency_slo_ms, r.tiers, r.regions, r.countries, r.edge_only) == \
        (40, ("edge",), ("eu-west",), ("FR",), True)
    assert r.tolerations == (Toleration("gpu"),)
    assert r.weights["carbon"] == 2 and r.weights["latency"] == 1.0
    assert r.move_threshold == 0.3


class PreferB:
    """A custom score, to show the extension point: the node named 'b' is best."""

    name = "prefer_b"
    better = Better.LOWER
    per_replica = False

    def __call__(self, ctx: PlacementContext) -> FloatArray:
        return np.asarray(ctx.snapshot.names[ctx.rows] != "b", dtype=np.float64)

    def bounds(
        self, ctx: PlacementContext, values: FloatArray, feasible: BoolArray
    ) -> tuple[float, float]:
        return 0.0, 1.0


def test_registry_and_custom_chain() -> None:
    registry = default_registry()
    assert registry.filter_names == ("ready", "cordon", "tier", "privacy", "residency",
                                     "taints", "gpus", "power", "latency_slo")
    assert registry.score_names == ("latency", "carbon", "renewable", "price", "spread")
    assert [f.name for f in build_chain(registry).filters] == list(registry.filter_names)
    with pytest.raises(ValueError, match="already registered"):
        registry.register_filter(registry.filter("ready"))
    registry.register_score(PreferB())
    chain = Chain(filters=DEFAULT_CHAIN.filters, scores=(registry.score("prefer_b"),))
    snap = snapshot_of([FakeNode("a"), FakeNode("b"), FakeNode("c")])
    (p,) = placed(place(snap, PlacementRequest("d", weights={"prefer_b": 1.0}), 1, chain=chain))
    assert p.node == "b"


def test_scales_are_fixed_per_call_so_costs_are_comparable() -> None:
    snap = snapshot_of(random_fleet(40, seed=5))
    request = PlacementRequest("d", gpus=1, power_kw=2, demand=(PARIS,))
    result = placed(place(snap, request, 10))
    costs = np.array([p.explanation.score for p in result])
    assert ((costs >= 0) & (costs <= 1)).all()


def test_an_empty_fleet_is_unschedulable_and_has_nothing_to_replan() -> None:
    from controlplane.scheduler.pipeline import Unschedulable, place
    from controlplane.scheduler.replan import DeploymentReplicas, RunningReplica, replan
    from controlplane.scheduler.request import Demand, PlacementRequest

    empty = snapshot_of([])
    request = PlacementRequest("chat", gpus=1, demand=(Demand("paris", 1.0, 48.9, 2.35),))
    result = place(empty, request, 2)
    assert isinstance(result, Unschedulable) and result.message == "0/0 nodes available"
    moves = replan(empty, [DeploymentReplicas(request, (RunningReplica("chat-1", "gone"),))])
    assert [(m.replica, m.to_node) for m in moves] == [("chat-1", None)]

"""The runner: choice, binding, explanations, partial failure, seeding, sites, the chain."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.inventory.snapshot import BoolArray
from controlplane.resources import ModelDeployment
from controlplane.scheduler import (
    DEFAULT_CHAIN,
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
from tests.scheduler.fleets import FakeNode, snapshot_of

PARIS = Demand("paris", 1.0, 48.86, 2.35)


def placed(result: list[Placement] | Unschedulable) -> list[Placement]:
    assert isinstance(result, list), getattr(result, "message", "")
    return result


def test_message_format() -> None:
    assert (
        availability_message(0, 240, {"power headroom": 180, "latency SLO": 60})
        == "0/240 nodes available: 180 power headroom, 60 latency SLO"
    )
    assert availability_message(3, 3, {}) == "3/3 nodes available"


def test_each_node_counted_once_under_the_first_filter_in_chain_order() -> None:
    nodes = [
        FakeNode("nr", ready=False, budget_kw=1),  # not ready AND no power: counted as not ready
        FakeNode("co", cordoned=True),
        FakeNode("edge", tier="edge"),
        FakeNode("nogpu", gpus_free={}),
        FakeNode("nopower1", budget_kw=5, lat=40.7, lon=-74.0),  # also too far: power first
        FakeNode("nopower2", budget_kw=5),
    ]
    result = place(
        snapshot_of(nodes),
        PlacementRequest(
            "d",
            gpus=1,
            gpu_model="H100",
            power_kw=10,
            demand=(PARIS,),
            latency_slo_ms=30,
            tiers=("factory",),
        ),
        1,
    )
    assert isinstance(result, Unschedulable)
    assert result.missing == 1 and result.placed == ()
    assert result.message == (
        "0/6 nodes available: 1 not ready, 1 cordoned, 1 tier, "
        "1 insufficient GPUs, 2 power headroom"
    )
    assert result.explanation.rejected == {
        "not ready": 1,
        "cordoned": 1,
        "tier": 1,
        "insufficient GPUs": 1,
        "power headroom": 2,
    }
    assert result.explanation.total_nodes == 6 and result.explanation.feasible_nodes == 0


def test_serves_users_within_the_slo_first_then_least_carbon_and_explains() -> None:
    nodes = [
        FakeNode("dirty", carbon_g_per_kwh=700, price_per_kwh=0.3, lat=48.9, lon=2.4),
        FakeNode(
            "clean",
            carbon_g_per_kwh=40,
            price_per_kwh=0.05,
            lat=48.9,
            lon=2.4,
            renewable_kw=105,
            it_draw_kw=100,
            budget_kw=1000,
        ),
        FakeNode("far-green", carbon_g_per_kwh=0, lat=40.7, lon=-74.0),
    ]
    request = PlacementRequest(
        "d", gpus=1, gpu_model="H100", power_kw=10, demand=(PARIS,), latency_slo_ms=50
    )
    (p,) = placed(place(snapshot_of(nodes), request, 1))
    assert p.node == "clean" and p.row == 1 and p.replica == 0 and p.gpu_model == "H100"
    e = p.explanation
    assert e.node == "clean" and e.serves == ["paris"] and e.demand_share == 1.0
    assert e.rtt_ms == pytest.approx(0.08, abs=0.2) and e.rtt_source == "estimated"
    assert e.renewable_share == 0.5 and e.carbon_g_per_kwh == 20.0  # half on the surplus
    assert e.carbon_g_per_h == 200.0 and e.score == 200.0  # 20 g/kWh x 10 kW
    assert e.headroom_kw == 900.0 and e.price_per_kwh == 0.05 and e.gpu_model == "H100"
    assert e.feasible_nodes == 3 and e.total_nodes == 3 and e.rejected == {}
    assert e.message == "3/3 nodes available"
    # Without an SLO, the greenest site wins wherever it is.
    (green,) = placed(
        place(
            snapshot_of(nodes),
            PlacementRequest("d", gpus=1, gpu_model="H100", power_kw=10, demand=(PARIS,)),
            1,
        )
    )
    assert green.node == "far-green"


def test_world_demand_gets_a_replica_near_each_market() -> None:
    """A single mean RTT over both markets is ~40 ms from anywhere: each market needs its own."""
    nodes = [
        FakeNode("paris", lat=48.9, lon=2.4, carbon_g_per_kwh=60),
        FakeNode("frankfurt", lat=50.1, lon=8.7, carbon_g_per_kwh=300),
        FakeNode("newyork", lat=40.7, lon=-74.0, carbon_g_per_kwh=400),
        FakeNode("iceland", lat=64.1, lon=-21.9, carbon_g_per_kwh=0),
    ]
    demand = (PARIS, Demand("nyc", 1.0, 40.7, -74.0))
    request = PlacementRequest(
        "d", gpus=1, gpu_model="H100", power_kw=10, demand=demand, latency_slo_ms=25
    )
    result = placed(place(snapshot_of(nodes), request, 2))
    assert sorted(p.node for p in result) == ["newyork", "paris"]
    assert {p.node: p.explanation.serves for p in result} == {
        "paris": ["paris"],
        "newyork": ["nyc"],
    }
    # A third replica serves no one better, so it goes where the carbon is least.
    (third,) = placed(place(snapshot_of(nodes), request, 1, existing=["paris", "newyork"]))
    assert third.node == "iceland" and third.explanation.serves == []
    assert third.explanation.demand_share == 0.0


def test_binding_takes_capacity_so_replicas_never_overcommit() -> None:
    nodes = [
        FakeNode("a", gpus_free={"H100": 4}, budget_kw=100),
        FakeNode("b", gpus_free={"H100": 8}, budget_kw=25),
    ]
    request = PlacementRequest("d", gpus=2, gpu_model="H100", power_kw=10)
    result = place(snapshot_of(nodes), request, 6)
    assert isinstance(result, Unschedulable)
    assert sorted(p.node for p in result.placed) == ["a", "a", "b", "b"]  # 4/2 GPUs, 25/10 kW
    assert result.missing == 2
    assert result.message == "2 replica(s) did not fit (4 did): 2/2 nodes available"


def test_caller_fleet_state_carries_binds_across_calls() -> None:
    snap = snapshot_of([FakeNode("a", gpus_free={"H100": 2})])
    request = PlacementRequest("d", gpus=2, gpu_model="H100")
    fleet = FleetState.from_snapshot(snap)
    assert len(placed(place(snap, request, 1, fleet=fleet))) == 1
    assert fleet.gpus_free[0, 0] == 0 and snap.gpus_free[0, 0] == 2
    assert isinstance(place(snap, request, 1, fleet=fleet), Unschedulable)


def test_min_sites_spreads_replicas_over_nodes() -> None:
    nodes = [FakeNode(f"n{i}", carbon_g_per_kwh=100 + i) for i in range(3)]
    packed = PlacementRequest("d", gpus=1, gpu_model="H100", power_kw=1)
    assert {p.node for p in placed(place(snapshot_of(nodes), packed, 3))} == {"n0"}
    spread = PlacementRequest("d", gpus=1, gpu_model="H100", power_kw=1, min_sites=3)
    assert sorted(p.node for p in placed(place(snapshot_of(nodes), spread, 3))) == [
        "n0",
        "n1",
        "n2",
    ]
    (p,) = placed(
        place(
            snapshot_of(nodes),
            PlacementRequest("d", gpus=1, gpu_model="H100", power_kw=1, min_sites=2),
            1,
            existing=["n0"],
        )
    )
    assert p.node == "n1"


def test_seeded_ties_replay_and_vary() -> None:
    snap = snapshot_of([FakeNode(f"n{i}") for i in range(20)])
    request = PlacementRequest("d", power_kw=1)
    runs = {
        seed: [p.node for p in placed(place(snap, request, 5, seed=seed))] for seed in (1, 2, 1)
    }
    assert runs[1] == [p.node for p in placed(place(snap, request, 5, seed=1))]
    assert len({tuple(v) for v in runs.values()}) == 2
    default = [p.node for p in placed(place(snap, request, 5))]
    assert default == [p.node for p in placed(place(snap, request, 5))]


def test_unknown_demand_region_is_unschedulable_with_a_message() -> None:
    result = place(
        snapshot_of([FakeNode("a")]),
        PlacementRequest("d", demand=(Demand("x", 1.0, region="atlantis"),)),
        1,
    )
    assert isinstance(result, Unschedulable)
    assert result.message == "demand region 'atlantis' has no known location"


def test_demand_region_resolves_to_fleet_centroid() -> None:
    nodes = [
        FakeNode("fra", region="eu-west", lat=50.1, lon=8.7),
        FakeNode("nyc", region="us-east", lat=40.7, lon=-74.0),
    ]
    request = PlacementRequest(
        "d", demand=(Demand("eu", 1.0, region="eu-west"),), latency_slo_ms=20
    )
    (p,) = placed(place(snapshot_of(nodes), request, 1))
    assert p.node == "fra"


def test_index_must_match_snapshot() -> None:
    snap = snapshot_of([FakeNode("a")])
    with pytest.raises(ValueError, match="different snapshot"):
        place(snap, PlacementRequest("d"), 1, index=FleetIndex(snapshot_of([FakeNode("a")])))


def test_request_from_deployment() -> None:
    dep = ModelDeployment.model_validate(
        {
            "metadata": {"name": "chat"},
            "spec": {
                "model": {"name": "llama"},
                "resources": {"gpus": 2, "gpuModel": "H100", "gpuMemoryGb": 80, "powerKw": 1.5},
                "demand": [
                    {"name": "paris", "lat": 48.86, "lon": 2.35, "weight": 2},
                    {"region": "eu-west"},
                ],
                "latencySloMs": 40,
                "placement": {
                    "tiers": ["edge"],
                    "regions": ["eu-west"],
                    "countries": ["FR"],
                    "privacy": "edge-only",
                    "tolerations": [{"key": "gpu"}],
                    "minSites": 2,
                },
                "energyPolicy": {
                    "objective": "cost",
                    "carbonPriceUsdPerTonne": 80,
                    "moveHorizonHours": 6,
                    "moveStartupMinutes": 15,
                },
            },
        }
    )
    r = request_from_deployment(dep)
    assert (r.deployment, r.gpus, r.gpu_model, r.gpu_memory_gb, r.power_kw) == (
        "chat",
        2,
        "H100",
        80,
        1.5,
    )
    assert r.demand == (
        Demand("paris", 2.0, 48.86, 2.35),
        Demand("eu-west", 1.0, None, None, "eu-west"),
    )
    assert (r.latency_slo_ms, r.tiers, r.regions, r.countries, r.edge_only) == (
        40,
        ("edge",),
        ("eu-west",),
        ("FR",),
        True,
    )
    assert r.tolerations == (Toleration("gpu"),)
    assert (r.objective, r.carbon_price_usd_per_tonne, r.min_sites) == ("cost", 80, 2)
    assert (r.move_horizon_hours, r.move_startup_minutes) == (6, 15)


class OnlyB:
    """A custom filter, to show the extension point: only the node named 'b' may run it."""

    name = "only_b"
    reason = "not b"
    per_replica = False
    evicts = False

    def __call__(self, ctx: PlacementContext) -> BoolArray:
        return np.asarray(ctx.snapshot.names == "b")


def test_registry_and_custom_chain() -> None:
    registry = default_registry()
    assert registry.filter_names == (
        "ready",
        "cordon",
        "tier",
        "privacy",
        "residency",
        "taints",
        "gpus",
        "power",
    )
    assert [f.name for f in build_chain(registry).filters] == list(registry.filter_names)
    with pytest.raises(ValueError, match="already registered"):
        registry.register_filter(registry.filter("ready"))
    registry.register_filter(OnlyB())
    chain = Chain(filters=(*DEFAULT_CHAIN.filters, registry.filter("only_b")))
    snap = snapshot_of([FakeNode("a"), FakeNode("b"), FakeNode("c")])
    (p,) = placed(place(snap, PlacementRequest("d"), 1, chain=chain))
    assert p.node == "b" and p.explanation.message == "1/3 nodes available: 2 not b"


def test_energy_objectives_in_physical_units() -> None:
    nodes = [
        FakeNode("coal-cheap", carbon_g_per_kwh=800, price_per_kwh=0.02),
        FakeNode("hydro-dear", carbon_g_per_kwh=20, price_per_kwh=0.30),
    ]

    def one(objective: str, **kw: float) -> Placement:
        (p,) = placed(
            place(
                snapshot_of(nodes), PlacementRequest("d", power_kw=10, objective=objective, **kw), 1
            )
        )  # type: ignore[arg-type]
        return p

    assert one("carbon").node == "hydro-dear" and one("carbon").explanation.score == 200.0
    assert one("price").node == "coal-cheap"
    assert one("price").explanation.score == pytest.approx(0.2)  # $/h
    # Priced at $500/t, coal's 8 kg/h costs $4/h more: hydro wins on cost.
    assert one("cost", carbon_price_usd_per_tonne=500).node == "hydro-dear"
    assert one("cost", carbon_price_usd_per_tonne=10).node == "coal-cheap"


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

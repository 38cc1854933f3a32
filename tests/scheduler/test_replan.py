"""Re-planning: moves that pay for themselves, the budget, curtailment, evictions, scale-down."""

from __future__ import annotations

from typing import Any

from controlplane.scheduler import (
    DeploymentReplicas,
    PlacementRequest,
    RunningReplica,
    replan,
    scale_down,
)
from controlplane.scheduler.request import Demand
from tests.scheduler.fleets import FakeNode, snapshot_of

POWER_KW = 10.0
PARIS = Demand("paris", 1.0, 48.86, 2.35)


def request(**kw: Any) -> PlacementRequest:
    base: dict[str, Any] = {"gpus": 1, "gpu_model": "H100", "power_kw": POWER_KW}
    return PlacementRequest("chat", **(base | kw))


def running(on: list[str], req: PlacementRequest | None = None) -> DeploymentReplicas:
    return DeploymentReplicas(
        req or request(), tuple(RunningReplica(f"chat-{i}", n) for i, n in enumerate(on))
    )


def fleet(carbon: dict[str, float], replicas: list[str]) -> list[FakeNode]:
    """Nodes with the given grid carbon, whose draw and GPUs already include `replicas`."""
    nodes = {name: FakeNode(name, carbon_g_per_kwh=g, budget_kw=100) for name, g in carbon.items()}
    for name in replicas:
        nodes[name].it_draw_kw += POWER_KW
        nodes[name].gpus_free["H100"] -= 1
    return list(nodes.values())


def test_a_move_must_repay_its_start_up_within_the_horizon() -> None:
    # b -> a saves 500 gCO2/h; starting at a costs 1,000 g/h x 10 min = 167 g.
    nodes = fleet({"a": 100, "b": 150, "c": 200}, ["b"])
    (move,) = replan(snapshot_of(nodes), [running(["b"])])
    assert (move.replica, move.from_node, move.to_node) == ("chat-0", "b", "a")
    assert move.saving_per_h == 500.0 and move.reason == "better placement: saves 500/h"
    assert move.explanation is not None and move.explanation.node == "a"
    # Over a 15-minute horizon the 125 g saved do not repay the 167 g start-up.
    short = request(move_horizon_hours=0.25)
    assert replan(snapshot_of(nodes), [running(["b"], short)]) == []
    # After the move, the next call leaves it where it is.
    after = fleet({"a": 100, "b": 150, "c": 200}, ["a"])
    assert replan(snapshot_of(after), [running(["a"])]) == []


def test_small_energy_swings_do_not_flap() -> None:
    on = ["a"]
    for step in range(10):  # a and b trade places by 1 g/kWh: 40 g over 4 h < 167 g start-up
        wobble = 0.5 if step % 2 else -0.5
        nodes = fleet({"a": 100 + wobble, "b": 100 - wobble, "c": 200}, on)
        assert replan(snapshot_of(nodes), [running(on)]) == []


def test_move_budget_takes_the_dearest_replicas_first() -> None:
    nodes = fleet({"a": 100, "b": 300, "c": 500, "d": 500}, ["b", "c", "d"])
    for n in nodes:
        n.gpus_free["H100"] = 8
    moves = replan(snapshot_of(nodes), [running(["b", "c", "d"])], max_moves=2)
    assert {m.from_node for m in moves} == {"c", "d"} and {m.to_node for m in moves} == {"a"}
    assert replan(snapshot_of(nodes), [running(["b", "c", "d"])], max_moves=0) == []


def test_a_move_that_brings_users_within_the_slo_is_always_worth_it() -> None:
    nodes = [
        FakeNode("fra", lat=50.1, lon=8.7, carbon_g_per_kwh=500),
        FakeNode("nyc", lat=40.7, lon=-74.0, carbon_g_per_kwh=50, it_draw_kw=POWER_KW),
    ]
    req = request(demand=(PARIS,), latency_slo_ms=30)
    (move,) = replan(snapshot_of(nodes), [running(["nyc"], req)])
    assert (move.from_node, move.to_node) == ("nyc", "fra")
    assert move.reason == "better placement: demand in SLO 100.0%"
    assert move.saving_per_h < 0  # it costs carbon, and the SLO comes first


def test_curtailment_sheds_just_enough_even_without_move_budget() -> None:
    on = ["a"] * 5
    nodes = fleet({"a": 100, "b": 300}, on)
    nodes[0].gpus_free["H100"] = 8
    nodes[0].budget_kw = 32.0  # draws 50 kW: shedding one leaves 40 kW, two leave 30 kW
    moves = replan(snapshot_of(nodes), [running(on)], max_moves=0)
    assert [m.from_node for m in moves] == ["a", "a"]
    assert all(m.to_node == "b" for m in moves)
    assert moves[0].reason == "curtailment: budget 32 kW < draw 50 kW"


def test_curtailment_stops_replicas_with_nowhere_to_go() -> None:
    nodes = fleet({"a": 100}, ["a", "a"])
    nodes[0].budget_kw = 15.0
    moves = replan(snapshot_of(nodes), [running(["a", "a"])])
    assert [(m.from_node, m.to_node) for m in moves] == [("a", None)]
    assert moves[0].explanation is None


def test_a_site_over_budget_with_no_replicas_to_shed_moves_nothing() -> None:
    nodes = fleet({"a": 100, "b": 300}, [])
    nodes[0].it_draw_kw, nodes[0].budget_kw = 50.0, 32.0  # over budget by work not ours
    assert replan(snapshot_of(nodes), []) == []


def test_gone_and_not_ready_nodes_evict_but_cordon_does_not() -> None:
    nodes = fleet({"a": 100, "b": 100, "c": 100}, ["a", "b"])
    nodes[0].ready = False
    nodes[1].cordoned = True
    moves = replan(snapshot_of(nodes), [running(["a", "b", "gone"])], max_moves=0)
    assert {(m.replica, m.from_node, m.to_node, m.reason) for m in moves} == {
        ("chat-0", "a", "c", "not ready"),
        ("chat-2", "gone", "c", "node gone"),
    }


def test_residency_change_moves_replicas() -> None:
    nodes = fleet({"a": 100, "b": 300}, ["a"])
    nodes[1].region = "us-east"
    req = request(regions=("us-east",))
    (move,) = replan(snapshot_of(nodes), [running(["a"], req)], max_moves=0)
    assert (move.to_node, move.reason) == ("b", "residency")


def test_scale_down_stops_evicted_first_then_what_serves_least_for_most() -> None:
    nodes = fleet({"a": 100, "b": 300, "c": 500, "d": 100}, ["a", "b", "c", "d"])
    nodes[3].ready = False
    dep = running(["a", "b", "c", "d"])
    assert scale_down(snapshot_of(nodes), dep, 2) == ["chat-3", "chat-2"]
    assert scale_down(snapshot_of(nodes), dep, 10) == ["chat-3", "chat-2", "chat-1", "chat-0"]
    # A replica that alone serves users within the SLO stays, though its site is dirtier.
    near = [
        FakeNode("fra", lat=50.1, lon=8.7, carbon_g_per_kwh=600, it_draw_kw=POWER_KW),
        FakeNode("nyc", lat=40.7, lon=-74.0, carbon_g_per_kwh=50, it_draw_kw=POWER_KW),
    ]
    req = request(demand=(PARIS,), latency_slo_ms=30)
    assert scale_down(snapshot_of(near), running(["fra", "nyc"], req), 1) == ["chat-1"]


NEW_YORK = Demand("new-york", 0.4, 40.71, -74.01)
FRANKFURT = Demand("frankfurt", 0.6, 50.11, 8.68)


def two_continents() -> tuple[list[FakeNode], PlacementRequest]:
    """Frankfurt's users (60%) and New York's (40%), 30 ms apart from nowhere."""
    nodes = [
        FakeNode("fra", lat=50.1, lon=8.7, carbon_g_per_kwh=300, it_draw_kw=POWER_KW),
        FakeNode("fra-clean", lat=50.0, lon=8.6, carbon_g_per_kwh=50),
        FakeNode("nyc", lat=40.7, lon=-74.0, carbon_g_per_kwh=300, it_draw_kw=POWER_KW),
    ]
    return nodes, request(demand=(FRANKFURT, NEW_YORK), latency_slo_ms=30)


def test_a_replica_on_its_way_counts_for_the_users_it_will_serve() -> None:
    # chat-1 is moving into fra (its replacement starting there); chat-0 serves New York.
    # Judged without it, moving chat-0 to Frankfurt would "gain" 60% and leave New York
    # beyond the SLO once both moves are done.
    nodes, req = two_continents()
    settled = DeploymentReplicas(req, (RunningReplica("chat-0", "nyc"),), settling=("fra",))
    assert replan(snapshot_of(nodes), [settled]) == []
    # A spare replica may still follow the cleaner power, beside the one on its way.
    spare = DeploymentReplicas(
        req,
        (RunningReplica("chat-0", "nyc"), RunningReplica("chat-2", "fra")),
        settling=("fra",),
    )
    (move,) = replan(snapshot_of(nodes), [spare])
    assert (move.replica, move.from_node, move.to_node) == ("chat-2", "fra", "fra-clean")
    assert move.reason.startswith("better placement: saves")


def test_moves_under_way_together_lose_no_users_whichever_finishes_first() -> None:
    # London serves Paris, Naples serves Rome; Madrid is beyond 16 ms of both. Together,
    # London -> Geneva (Paris and Rome, on cleaner power) and Naples -> Lisbon (Madrid) serve
    # everyone; but were Naples's move to finish first, Rome would be beyond the SLO.
    nodes = [
        FakeNode("london", lat=51.51, lon=-0.13, carbon_g_per_kwh=500, it_draw_kw=POWER_KW),
        FakeNode("geneva", lat=46.20, lon=6.14, carbon_g_per_kwh=50),
        FakeNode("naples", lat=40.85, lon=14.27, carbon_g_per_kwh=300, it_draw_kw=POWER_KW),
        FakeNode("lisbon", lat=38.72, lon=-9.14, carbon_g_per_kwh=300),
    ]
    demand = (
        Demand("paris", 0.4, 48.86, 2.35),
        Demand("rome", 0.35, 41.89, 12.51),
        Demand("madrid", 0.25, 40.42, -3.70),
    )
    req = request(demand=demand, latency_slo_ms=16)
    first = replan(snapshot_of(nodes), [running(["london", "naples"], req)])
    assert [(m.from_node, m.to_node) for m in first] == [("london", "geneva")]
    # The next re-plan, Geneva's replica on its way, completes the move to Lisbon.
    on_its_way = DeploymentReplicas(req, (RunningReplica("chat-1", "naples"),), ("geneva",))
    (second,) = replan(snapshot_of(nodes), [on_its_way])
    assert (second.from_node, second.to_node) == ("naples", "lisbon")
    assert second.reason == "better placement: demand in SLO 100.0%"


def test_a_moves_reason_counts_demand_beyond_every_node_as_the_routes_do() -> None:
    nodes = [
        FakeNode("fra", lat=50.1, lon=8.7, carbon_g_per_kwh=500),
        FakeNode("nyc", lat=40.7, lon=-74.0, carbon_g_per_kwh=50, it_draw_kw=POWER_KW),
    ]
    sydney = Demand("sydney", 1.0, -33.87, 151.21)  # 30 ms from no node
    req = request(demand=(PARIS, sydney), latency_slo_ms=30)
    (move,) = replan(snapshot_of(nodes), [running(["nyc"], req)])
    assert (move.to_node, move.reason) == ("fra", "better placement: demand in SLO 50.0%")

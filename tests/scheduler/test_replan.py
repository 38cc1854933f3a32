"""Re-planning: hysteresis, the move budget, curtailment, evictions and scale-down."""

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
CARBON_ONLY = {"carbon": 1.0}


def request(**kw: Any) -> PlacementRequest:
    base: dict[str, Any] = {"gpus": 1, "gpu_model": "H100", "power_kw": POWER_KW,
                            "weights": CARBON_ONLY, "move_threshold": 0.15}
    return PlacementRequest("chat", **(base | kw))


def running(on: list[str], req: PlacementRequest | None = None) -> DeploymentReplicas:
    return DeploymentReplicas(req or request(),
                              tuple(RunningReplica(f"chat-{i}", n) for i, n in enumerate(on)))


def fleet(carbon: dict[str, float], replicas: list[str]) -> list[FakeNode]:
    """Nodes with the given grid carbon, whose draw and GPUs already include `replicas`."""
    nodes = {name: FakeNode(name, carbon_g_per_kwh=g, budget_kw=100)
             for name, g in carbon.items()}
    for name in replicas:
        nodes[name].it_draw_kw += POWER_KW
        nodes[name].gpus_free["H100"] -= 1
    return list(nodes.values())


def test_no_move_when_gain_is_below_threshold() -> None:
    # range 100..200 g: moving from 'b' (0.1 of the range worse) gains 0.1 < 0.15
    nodes = fleet({"a": 100, "b": 110, "c": 200}, ["b"])
    assert replan(snapshot_of(nodes), [running(["b"])]) == []


def test_moves_when_gain_exceeds_threshold_and_not_back() -> None:
    nodes = fleet({"a": 100, "b": 150, "c": 200}, ["b"])
    (move,) = replan(snapshot_of(nodes), [running(["b"])])
    assert (move.replica, move.from_node, move.to_node) == ("chat-0", "b", "a")
    assert move.gain == 0.5 and move.reason.startswith("better placement")
    assert move.explanation is not None and move.explanation.node == "a"
    # after the move, the next call leaves it where it is: no flapping
    after = fleet({"a": 100, "b": 150, "c": 200}, ["a"])
    assert replan(snapshot_of(after), [running(["a"])]) == []


def test_small_energy_swings_do_not_flap() -> None:
    on = ["a"]
    for step in range(10):  # a and b trade places by less than the threshold, back and forth
        wobble = 5.0 if step % 2 else -5.0
        nodes = fleet({"a": 100 + wobble, "b": 100 - wobble, "c": 200}, on)
        assert replan(snapshot_of(nodes), [running(on)]) == []


def test_move_budget_takes_the_largest_gains_first() -> None:
    nodes = fleet({"a": 100, "b": 300, "c": 500, "d": 500}, ["b", "c", "d"])
    for n in nodes:
        n.gpus_free["H100"] = 8
    req = request(weights={"carbon": 1.0})
    moves = replan(snapshot_of(nodes), [running(["b", "c", "d"], req)], max_moves=2)
    assert len(moves) == 2
    assert {m.from_node for m in moves} == {"c", "d"}  # gain 1.0 beats gain 0.5
    assert replan(snapshot_of(nodes), [running(["b", "c", "d"], req)], max_moves=0) == []


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


def test_spread_pulls_a_replica_out_of_a_crowded_region() -> None:
    nodes = [FakeNode(f"eu-{i}", region="eu", it_draw_kw=POWER_KW) for i in range(3)]
    nodes.append(FakeNode("us-0", region="us", lat=40.7, lon=-74.0))
    req = request(weights={"spread": 1.0}, move_threshold=0.1)
    (move,) = replan(snapshot_of(nodes), [running(["eu-0", "eu-1", "eu-2"], req)])
    assert move.to_node == "us-0"


def test_latency_gain_moves_towards_demand() -> None:
    nodes = [FakeNode("fra", lat=50.1, lon=8.7), FakeNode("nyc", lat=40.7, lon=-74.0,
                                                           it_draw_kw=POWER_KW)]
    req = request(weights={"latency": 1.0}, demand=(Demand("paris", 1.0, 48.86, 2.35),))
    (move,) = replan(snapshot_of(nodes), [running(["nyc"], req)])
    assert (move.from_node, move.to_node) == ("nyc", "fra")


def test_scale_down_stops_evicted_first_then_the_costliest() -> None:
    nodes = fleet({"a": 100, "b": 300, "c": 500, "d": 100}, ["a", "b", "c", "d"])
    nodes[3].ready = False
    dep = running(["a", "b", "c", "d"])
    assert scale_down(snapshot_of(nodes), dep, 2) == ["chat-3", "chat-2"]
    assert scale_down(snapshot_of(nodes), dep, 10) == ["chat-3", "chat-2", "chat-1", "chat-0"]

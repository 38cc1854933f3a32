"""Re-planning on the forecast: a move must repay its start-up over the horizon's mean saving.

Hand-made hours: node b runs the replica at 300 gCO2/kWh; node a dips. A
replica draws 10 kW and starts in 10 minutes, so a start-up at a costs its
draw for 1/6 h; the horizon is 4 h.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.scheduler import DeploymentReplicas, PlacementRequest, RunningReplica, replan
from controlplane.scheduler.replan import horizon_energy
from tests.scheduler.fleets import FakeNode, snapshot_of

POWER_KW = 10.0
HOURS = 24


def request(**kw: Any) -> PlacementRequest:
    return PlacementRequest("chat", gpus=1, gpu_model="H100", power_kw=POWER_KW, **kw)


def on_b(req: PlacementRequest | None = None) -> list[DeploymentReplicas]:
    return [DeploymentReplicas(req or request(), (RunningReplica("chat-0", "b"),))]


def hours(
    now: dict[str, float], then: dict[str, list[float]] | None, price: bool = False
) -> FleetSnapshot:
    """Nodes a, b (the replica's), c at `now`; `then`: their next hours (None: no forecast)."""
    nodes = {
        n: FakeNode(n, carbon_g_per_kwh=g, price_per_kwh=g / 1000, budget_kw=100)
        for n, g in now.items()
    }
    nodes["b"].it_draw_kw += POWER_KW
    nodes["b"].gpus_free["H100"] -= 1
    snap = snapshot_of(list(nodes.values()))
    if then is None:
        return snap
    ahead = np.array([then[n] for n in nodes])
    if price:
        return dataclasses.replace(snap, price_forecast_per_kwh=ahead / 1000)
    return dataclasses.replace(snap, carbon_forecast_g_per_kwh=ahead)


def flat(g: float) -> list[float]:
    return [g] * HOURS


def test_a_one_hour_dip_elsewhere_moves_nothing_when_the_forecast_says_it_ends() -> None:
    now = {"a": 270.0, "b": 300.0, "c": 500.0}
    # On this hour alone the dip looks like 30 g/kWh x 10 kW x 4 h = 1,200 g saved > 450 g start-up:
    (chase,) = replan(hours(now, None), on_b())
    assert chase.to_node == "a"
    # The forecast says a is back at 300 next hour: 300 g over the horizon < 450 g. No move.
    back = {"a": flat(300), "b": flat(300), "c": flat(500)}
    assert replan(hours(now, back), on_b()) == []


def test_a_lasting_shift_moves_the_replica_and_says_it_was_the_forecast() -> None:
    now = {"a": 270.0, "b": 300.0, "c": 500.0}
    lasting = {"a": flat(270), "b": flat(300), "c": flat(500)}
    (move,) = replan(hours(now, lasting), on_b())
    assert (move.from_node, move.to_node) == ("b", "a")
    assert move.saving_per_h == 300.0
    assert move.reason == "better placement: saves 300/h (forecast mean over 4 h)"


def test_a_shift_the_forecast_expects_moves_before_it_starts_only_if_it_pays_over_the_horizon() -> (
    None
):
    now = {"a": 300.0, "b": 300.0, "c": 500.0}
    coming = {"a": flat(150), "b": flat(300), "c": flat(500)}  # from next hour, for the day
    (move,) = replan(hours(now, coming), on_b())
    assert move.to_node == "a"  # 3 of 4 hours at 150 less: 4,500 g > 500 g start-up
    late = {"a": [300.0] * 2 + [150.0] * 22, "b": flat(300), "c": flat(500)}  # 1 h of 4 cheaper
    assert len(replan(hours(now, late), on_b())) == 1  # 1,500 g saved > 500 g start-up
    assert replan(hours(now, late), on_b(request(move_startup_minutes=60))) == []  # < 3,000 g


def test_a_one_hour_spike_at_the_replicas_own_node_does_not_push_it_away() -> None:
    now = {"a": 300.0, "b": 330.0, "c": 500.0}
    assert len(replan(hours(now, None), on_b())) == 1  # this hour alone: b looks 30 dearer
    calm = {"a": flat(300), "b": flat(300), "c": flat(500)}
    assert replan(hours(now, calm), on_b()) == []


def test_the_price_objective_weighs_the_price_forecast() -> None:
    now = {"a": 270.0, "b": 300.0, "c": 500.0}  # prices 0.27, 0.30, 0.50 $/kWh
    by_price = request(objective="price")
    back = {"a": flat(300), "b": flat(300), "c": flat(500)}
    assert replan(hours(now, back, price=True), on_b(by_price)) == []
    assert replan(hours(now, back, price=False), on_b(by_price)) != []  # only carbon forecast


def test_horizon_energy_is_this_hour_without_a_forecast_and_the_mean_with_one() -> None:
    now = {"a": 270.0, "b": 300.0, "c": 500.0}
    assert not horizon_energy(hours(now, None), 4).forecast
    energy = horizon_energy(hours(now, {"a": flat(300), "b": flat(300), "c": flat(100)}), 4)
    assert energy.forecast
    assert energy.carbon_g_per_kwh.tolist() == [292.5, 300.0, 200.0]

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
from controlplane.scheduler.replan import energy_ahead, pays_back
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


def test_a_shift_the_forecast_expects_waits_for_it_to_start() -> None:
    now = {"a": 300.0, "b": 300.0, "c": 500.0}
    coming = {"a": flat(150), "b": flat(300), "c": flat(500)}  # from next hour, for the day
    assert replan(hours(now, coming), on_b()) == []  # moving now saves nothing yet
    started = {"a": 150.0, "b": 300.0, "c": 500.0}
    (move,) = replan(hours(started, {"a": flat(150), "b": flat(300), "c": flat(500)}), on_b())
    assert move.to_node == "a"


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


def test_energy_ahead_is_this_hour_without_a_forecast_and_the_forecast_with_one() -> None:
    now = {"a": 270.0, "b": 300.0, "c": 500.0}
    assert not energy_ahead(hours(now, None), 4).forecast
    ahead = energy_ahead(hours(now, {"a": flat(300), "b": flat(300), "c": flat(100)}), 4)
    assert ahead.forecast
    assert ahead.carbon_g_per_kwh[0].tolist() == [270.0, 300.0, 300.0, 300.0]
    assert ahead.mean()[0].tolist() == [292.5, 300.0, 200.0]


ONES = np.ones(4)


def test_a_move_pays_if_moving_now_beats_staying_with_either_free_to_move_later() -> None:
    assert pays_back(np.full(4, 50.0), ONES, startup=150, leave_again=150)  # 200 > 150
    assert not pays_back(np.full(4, 30.0), ONES, startup=150, leave_again=150)  # 120 < 150
    # a one-hour dip: 200 in the first hour, then dearer: 200 < 150 + 150 to leave again
    assert not pays_back(np.array([200.0, -50, -50, -50]), ONES, startup=150, leave_again=150)
    # a deep one repays both start-ups in its hour
    assert pays_back(np.array([400.0, -50, -50, -50]), ONES, startup=150, leave_again=150)
    # a saving that starts in two hours: better to move then
    assert not pays_back(np.array([0.0, 0, 500, 500]), ONES, startup=150, leave_again=150)
    # the last hour of a 3.5 h horizon counts half: 50 + 50 + 50 + 25 > 150
    assert pays_back(np.full(4, 50.0), np.array([1, 1, 1, 0.5]), startup=150, leave_again=999)
    assert not pays_back(np.full(4, 40.0), np.array([1, 1, 1, 0.5]), startup=150, leave_again=999)


def test_a_replica_follows_a_daily_low_that_repays_two_start_ups_and_stays_while_it_lasts() -> None:
    # a is clean for 3 hours (solar), then dearer than b for the rest of a 12-hour horizon:
    # the mean over 12 h favours b, but 3 h x 1,500 g = 4,500 g > 250 + 500 g of two start-ups.
    twelve = request(move_horizon_hours=12)
    now = {"a": 150.0, "b": 300.0, "c": 500.0}
    solar = {"a": [150.0] * 2 + [400.0] * 22, "b": flat(300), "c": flat(500)}
    (move,) = replan(hours(now, solar), on_b(twelve))
    assert move.to_node == "a"
    # An hour later, on a, with two clean hours left: it stays.
    later = hours(now, {"a": [150.0] + [400.0] * 23, "b": flat(300), "c": flat(500)})
    nodes_on_a = dataclasses.replace(
        later,
        it_draw_kw=later.it_draw_kw + np.array([POWER_KW, -POWER_KW, 0]),
        gpus_free=later.gpus_free + np.array([[-1, 0], [1, 0], [0, 0]], np.int32),
    )
    on_a = [DeploymentReplicas(twelve, (RunningReplica("chat-0", "a"),))]
    assert replan(nodes_on_a, on_a) == []

"""Each soft score on its own, in physical units, and the normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.scheduler import scores
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import Better, min_max, normalise
from controlplane.scheduler.pipeline import build_context
from controlplane.scheduler.request import Demand, PlacementRequest
from controlplane.scheduler.scores.carbon import marginal_carbon_g_per_kwh
from controlplane.scheduler.scores.renewable import renewable_share, surplus_kw
from controlplane.scheduler.scores.spread import spread_share
from tests.scheduler.fleets import FakeNode, snapshot_of


def test_normalise_min_max_directions_and_constant() -> None:
    v = np.array([10.0, 20.0, 30.0])
    np.testing.assert_allclose(normalise(v, 10, 30, Better.LOWER), [0, 0.5, 1])
    np.testing.assert_allclose(normalise(v, 10, 30, Better.HIGHER), [1, 0.5, 0])
    assert not normalise(v, 5, 5, Better.LOWER).any()
    np.testing.assert_allclose(normalise(np.array([0.0, 40.0]), 10, 30, Better.LOWER), [0, 1])
    assert min_max(v, np.array([False, True, True])) == (20.0, 30.0)
    assert min_max(v, np.zeros(3, bool)) == (0.0, 0.0)


def test_renewable_surplus_and_share() -> None:
    renewable, draw = np.array([100.0, 100.0, 50.0, 0.0]), np.array([50.0, 97.0, 80.0, 0.0])
    np.testing.assert_allclose(surplus_kw(renewable, draw), [50, 3, 0, 0])
    np.testing.assert_allclose(renewable_share(renewable, draw, 10.0), [1.0, 0.3, 0.0, 0.0])
    np.testing.assert_allclose(renewable_share(renewable, draw, 0.0), [1.0, 1.0, 0.0, 0.0])


def test_marginal_carbon_is_zero_when_surplus_covers_and_grid_when_not() -> None:
    carbon = np.array([400.0, 400.0, 400.0])
    renewable, draw = np.array([100.0, 55.0, 0.0]), np.array([50.0, 50.0, 10.0])
    np.testing.assert_allclose(
        marginal_carbon_g_per_kwh(carbon, renewable, draw, 10.0), [0.0, 200.0, 400.0])


def test_spread_share() -> None:
    np.testing.assert_allclose(spread_share(np.array([0, 1, 2]), np.array([0, 3, 3]), 4),
                               [0.0, 0.5, 0.625])
    assert not spread_share(np.array([1]), np.array([1]), 0).any()


def test_scores_read_the_context() -> None:
    nodes = [FakeNode("a", lat=50.1, lon=8.7, price_per_kwh=0.2, carbon_g_per_kwh=300,
                      renewable_kw=100, it_draw_kw=95, region="eu"),
             FakeNode("b", lat=48.9, lon=2.35, price_per_kwh=0.1, carbon_g_per_kwh=50,
                      region="fr")]
    index = FleetIndex(snapshot_of(nodes))
    request = PlacementRequest("d", power_kw=10, demand=(Demand("paris", 1, 48.86, 2.35),))
    ctx = build_context(index, request, 2, existing=["a"])
    rtt = scores.Latency()(ctx)
    assert rtt[1] < 1.0 < rtt[0]
    assert scores.Price()(ctx).tolist() == [0.2, 0.1]
    np.testing.assert_allclose(scores.Renewable()(ctx), [0.5, 0.0])
    np.testing.assert_allclose(scores.Carbon()(ctx), [150.0, 50.0])
    np.testing.assert_allclose(scores.Spread()(ctx), [2 / 6, 0.0])  # 1 on node, 1 in region
    feasible = np.ones(2, bool)
    assert scores.Carbon().bounds(ctx, scores.Carbon()(ctx), feasible) == (50.0, 300.0)
    assert scores.Renewable().bounds(ctx, np.zeros(2), feasible) == (0.0, 1.0)
    assert scores.Spread().bounds(ctx, np.zeros(2), feasible) == (0.0, 1.0)
    assert scores.Latency().bounds(ctx, rtt, feasible) == pytest.approx((rtt[1], rtt[0]))
    assert [s.better for s in (scores.Latency(), scores.Carbon(), scores.Renewable(),
                               scores.Price(), scores.Spread())] == [
        Better.LOWER, Better.LOWER, Better.HIGHER, Better.LOWER, Better.LOWER]

"""The physical figures the objective reads: renewable share, marginal carbon, energy cost."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.scheduler.scores.carbon import marginal_carbon_g_per_kwh
from controlplane.scheduler.scores.energy import carbon_g_per_h, replica_cost_per_h
from controlplane.scheduler.scores.renewable import renewable_share, surplus_kw


def test_renewable_surplus_and_share() -> None:
    renewable, draw = np.array([100.0, 100.0, 50.0, 0.0]), np.array([50.0, 97.0, 80.0, 0.0])
    np.testing.assert_allclose(surplus_kw(renewable, draw), [50, 3, 0, 0])
    np.testing.assert_allclose(renewable_share(renewable, draw, 10.0), [1.0, 0.3, 0.0, 0.0])
    np.testing.assert_allclose(renewable_share(renewable, draw, 0.0), [1.0, 1.0, 0.0, 0.0])


def test_marginal_carbon_is_zero_when_surplus_covers_and_grid_when_not() -> None:
    carbon = np.array([400.0, 400.0, 400.0])
    renewable, draw = np.array([100.0, 55.0, 0.0]), np.array([50.0, 50.0, 10.0])
    np.testing.assert_allclose(
        marginal_carbon_g_per_kwh(carbon, renewable, draw, 10.0), [0.0, 200.0, 400.0]
    )
    np.testing.assert_allclose(carbon_g_per_h(carbon, renewable, draw, 10.0), [0.0, 2000.0, 4000.0])


def test_energy_cost_by_objective() -> None:
    figures = {
        "carbon_g_per_kwh": np.array([400.0, 100.0]),
        "renewable_kw": np.array([15.0, 0.0]),
        "price_per_kwh": np.array([0.10, 0.20]),
        "it_draw_kw": np.array([10.0, 0.0]),
        "power_kw": 10.0,
    }
    np.testing.assert_allclose(replica_cost_per_h("carbon", 0, **figures), [2000.0, 1000.0])
    np.testing.assert_allclose(replica_cost_per_h("price", 0, **figures), [0.5, 2.0])
    np.testing.assert_allclose(replica_cost_per_h("cost", 100.0, **figures), [0.5 + 0.2, 2.0 + 0.1])
    with pytest.raises(ValueError, match="'greenest' is not one of carbon, price, cost"):
        replica_cost_per_h("greenest", 0, **figures)

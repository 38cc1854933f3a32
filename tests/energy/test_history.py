"""A node's hourly history and the fleet's forecast: seasonal-naive after a day; feeds first."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.energy.forecast import seasonal_naive
from controlplane.energy.history import EnergyHistory, FeedForecast

HOUR_S = 3600.0
DAY = [400.0] * 8 + [150.0] * 8 + [400.0] * 8  # a clean afternoon, every day


def sample(history: EnergyHistory, slot: int, carbon: float, price: float, now_s: float) -> None:
    """One sample of a fleet in which only `slot` reported."""
    fresh = np.arange(slot + 1) == slot
    history.sample(np.full(slot + 1, carbon), np.full(slot + 1, price), fresh, now_s)


def lived(history: EnergyHistory, slot: int, hours: int, figure: list[float]) -> float:
    """Two samples an hour for `hours` hours, the figure of the hour of day; returns now_s."""
    now_s = 0.0
    for h in range(hours):
        for beat in (0.0, 1800.0):
            now_s = h * HOUR_S + beat
            sample(history, slot, figure[h % 24], figure[h % 24] / 1000, now_s)
    return now_s


def test_a_node_with_a_day_of_history_gets_the_seasonal_naive_forecast() -> None:
    history = EnergyHistory(capacity=1)  # grows as rows come
    lived(history, 0, 48 + 8, DAY)  # two days and this morning, up to 07:00
    lived_less = EnergyHistory()
    lived(lived_less, 0, 20, DAY)
    forecast = history.forecast(2)
    assert forecast.source == ("seasonal-naive", "")  # row 1 never reported
    assert forecast.carbon_g_per_kwh[0, 0] == pytest.approx(150.0)  # 08:00: the afternoon dip
    assert forecast.price_per_kwh[0, 0] == pytest.approx(0.150)
    assert np.isnan(forecast.carbon_g_per_kwh[1]).all()
    assert lived_less.forecast(1).source == ("",)  # less than a day: none yet


def test_an_hours_figure_is_the_mean_of_its_samples_from_nodes_that_reported() -> None:
    history = EnergyHistory()
    sample(history, 0, 100.0, 0.1, 10.0)
    sample(history, 0, 300.0, 0.3, 20.0)
    history.sample(np.array([999.0]), np.array([9.0]), np.array([False]), 30.0)  # silent
    sample(history, 0, 50.0, 0.05, HOUR_S + 1)
    sample(history, 0, 70.0, 0.07, 2 * HOUR_S + 1)  # hour 1 completes
    carbon, price = history.hourly(1)
    assert carbon[0, -2:].tolist() == [200.0, 50.0]
    assert np.isnan(carbon[0, :-2]).all()
    assert price[0, -2] == pytest.approx(0.2)


def test_a_week_later_the_old_hours_are_gone() -> None:
    history = EnergyHistory()
    sample(history, 0, 999.0, 1.0, 0.0)
    sample(history, 0, 100.0, 0.1, 8 * 24 * HOUR_S)
    sample(history, 0, 100.0, 0.1, (8 * 24 + 1) * HOUR_S)
    carbon, _ = history.hourly(1)
    assert np.nansum(carbon) == 100.0


def test_a_feed_forecast_wins_and_a_carbon_only_feed_keeps_our_price() -> None:
    history = EnergyHistory()
    lived(history, 0, 48, DAY)
    feed = FeedForecast(np.array([1, 2, 30]), np.array([90.0, 80.0, 1.0]), np.zeros(3))
    history.set_feed(0, feed)
    forecast = history.forecast(1)
    assert forecast.source == ("feed",)
    assert forecast.carbon_g_per_kwh[0, :2].tolist() == [90.0, 80.0]
    assert np.isnan(forecast.carbon_g_per_kwh[0, 2:]).all()  # offset 30 is past 24 h: dropped
    assert forecast.price_per_kwh[0, 0] == pytest.approx(0.4)  # ours: no price from the feed
    history.set_feed(0, None)
    assert history.forecast(1).source == ("seasonal-naive",)


def test_the_current_hour_moves_the_forecast_between_hourly_shapes() -> None:
    history = EnergyHistory()
    now_s = lived(history, 0, 48 + 7, DAY) + 600  # 06:10, on the third day
    before = history.forecast(1).carbon_g_per_kwh[0, 0]
    sample(history, 0, 600.0, 0.6, now_s)  # this hour runs 200 above the past days
    after = history.forecast(1).carbon_g_per_kwh[0, 0]
    assert after > before + 50  # its departure carries into the next hour


def test_the_running_week_gives_what_seasonal_naive_gives_on_the_whole_history() -> None:
    rng = np.random.default_rng(7)
    hours = 10 * 24 + 5  # more than a week: hours leave the sums as they age out
    carbon = rng.uniform(50, 600, (3, hours))
    price = rng.uniform(0.01, 0.3, (3, hours))
    history = EnergyHistory()
    for h in range(hours):
        history.sample(carbon[:, h], price[:, h], np.ones(3, bool), h * HOUR_S + 5)
    ours = history.forecast(3)
    whole = seasonal_naive(carbon, 24)
    # Offsets 1..23 read completed hours only, as the running week does.
    # The week is kept in float32: the same to 6 digits.
    np.testing.assert_allclose(ours.carbon_g_per_kwh[:, :23], whole[:, :23], rtol=1e-6)
    np.testing.assert_allclose(
        ours.price_per_kwh[:, :23], seasonal_naive(price, 24)[:, :23], rtol=1e-6
    )

"""A node's hourly history and the fleet's forecast: seasonal-naive after a day; feeds first."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.energy.history import EnergyHistory, FeedForecast

HOUR_S = 3600.0
DAY = [400.0] * 8 + [150.0] * 8 + [400.0] * 8  # a clean afternoon, every day


def lived(history: EnergyHistory, slot: int, hours: int, figure: list[float]) -> float:
    """Two heartbeats an hour for `hours` hours, the figure of the hour of day; returns now_s."""
    now_s = 0.0
    for h in range(hours):
        for beat in (0.0, 1800.0):
            now_s = h * HOUR_S + beat
            history.record(slot, figure[h % 24], figure[h % 24] / 1000, now_s)
    return now_s


def test_a_node_with_a_day_of_history_gets_the_seasonal_naive_forecast() -> None:
    history = EnergyHistory(capacity=1)  # grows as rows come
    now_s = lived(history, 0, 48 + 8, DAY)  # two days and this morning, up to 07:00
    lived_less = EnergyHistory()
    soon_s = lived(lived_less, 0, 20, DAY)
    forecast = history.forecast(2, now_s)
    assert forecast.source == ("seasonal-naive", "")  # row 1 never reported
    assert forecast.carbon_g_per_kwh[0, 0] == pytest.approx(150.0)  # 08:00: the afternoon dip
    assert forecast.price_per_kwh[0, 0] == pytest.approx(0.150)
    assert np.isnan(forecast.carbon_g_per_kwh[1]).all()
    assert lived_less.forecast(1, soon_s).source == ("",)  # less than a day: none yet


def test_an_hours_figure_is_the_mean_of_its_heartbeats() -> None:
    history = EnergyHistory()
    history.record(0, 100.0, 0.1, 10.0)
    history.record(0, 300.0, 0.3, 20.0)
    history.record(0, 50.0, 0.05, HOUR_S + 1)
    carbon, price = history.hourly(1)
    assert carbon[0, -2:].tolist() == [200.0, 50.0]
    assert np.isnan(carbon[0, :-2]).all()
    assert price[0, -2] == pytest.approx(0.2)


def test_a_week_later_the_old_hours_are_gone() -> None:
    history = EnergyHistory()
    history.record(0, 999.0, 1.0, 0.0)
    history.record(0, 100.0, 0.1, 8 * 24 * HOUR_S)
    carbon, _ = history.hourly(1)
    assert np.nansum(carbon) == 100.0


def test_a_feed_forecast_wins_and_a_carbon_only_feed_keeps_our_price() -> None:
    history = EnergyHistory()
    now_s = lived(history, 0, 48, DAY)
    feed = FeedForecast(np.array([1, 2, 30]), np.array([90.0, 80.0, 1.0]), np.zeros(3))
    history.set_feed(0, feed)
    forecast = history.forecast(1, now_s)
    assert forecast.source == ("feed",)
    assert forecast.carbon_g_per_kwh[0, :2].tolist() == [90.0, 80.0]
    assert np.isnan(forecast.carbon_g_per_kwh[0, 2:]).all()  # offset 30 is past 24 h: dropped
    assert forecast.price_per_kwh[0, 0] == pytest.approx(0.4)  # ours: no price from the feed
    history.set_feed(0, None)
    assert history.forecast(1, now_s).source == ("seasonal-naive",)

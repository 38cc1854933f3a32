"""The control plane's own forecast: shape from past days, level from now, persistence otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.energy.forecast import horizon_mean, persistence, seasonal_naive


def days(*profiles: list[float]) -> np.ndarray:
    """One node's hourly history: the 24-hour profiles given, oldest first."""
    return np.concatenate([np.asarray(p, dtype=float) for p in profiles])[None, :]


SOLAR_DAY = [400.0] * 8 + [150.0] * 8 + [400.0] * 8  # a midday dip, every day


def test_a_daily_dip_is_forecast_from_the_past_days_not_from_the_hour_before_it() -> None:
    history = days(SOLAR_DAY, SOLAR_DAY)[:, :-16]  # the last day up to 07:00, just before the dip
    f = seasonal_naive(history, 12)
    assert f[0, 0] == pytest.approx(150.0)  # 08:00: the dip, as on every past day
    assert f[0, 8] == pytest.approx(400.0)  # 16:00: back up
    assert persistence(history, 12)[0, 0] == pytest.approx(400.0)  # persistence misses it


def test_todays_departure_from_the_past_days_fades_toward_them() -> None:
    flat = [300.0] * 24
    today = [300.0] * 23 + [400.0]  # this hour is 100 above the past days
    f = seasonal_naive(days(flat, flat, today), 24, damping=0.9)
    assert f[0, 0] == pytest.approx(300.0 + 100 * 0.9)
    assert f[0, 22] == pytest.approx(300.0 + 100 * 0.9**23)
    assert np.all(np.diff(f[0, :23]) < 0)  # back toward the past days' level, hour by hour


def test_less_than_a_day_of_history_falls_back_to_persistence() -> None:
    f = seasonal_naive(np.array([[200.0, 210.0, 220.0], [np.nan, 50.0, np.nan]]), 5)
    assert f.tolist() == [[220.0] * 5, [50.0] * 5]


def test_hours_a_node_did_not_report_are_skipped_not_taken_as_zero() -> None:
    past = np.array(SOLAR_DAY)
    past[8] = np.nan  # yesterday at 08:00 missing: the day before gives the hour
    f = seasonal_naive(days(SOLAR_DAY, past, SOLAR_DAY)[:, :-16], 1, damping=0.0)
    assert f[0, 0] == pytest.approx(150.0)


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="horizon_h"):
        seasonal_naive(np.ones((1, 48)), 0)
    with pytest.raises(ValueError, match="damping"):
        seasonal_naive(np.ones((1, 48)), 4, damping=1.5)


def test_horizon_mean_counts_this_hour_then_the_forecast_then_holds_the_last_known() -> None:
    now = np.array([100.0, 100.0])
    forecast = np.array([[0.0, 0.0], [np.nan, 40.0]])
    mean = horizon_mean(now, forecast, 4.0)
    assert mean[0] == pytest.approx(100 / 4)  # 100, 0, 0, then 0 held
    assert mean[1] == pytest.approx((100 + 100 + 40 + 40) / 4)  # NaN: the hour before holds
    assert horizon_mean(now, np.zeros((2, 0)), 4.0).tolist() == [100.0, 100.0]
    assert horizon_mean(now, forecast, 1.5)[0] == pytest.approx((100 + 0.5 * 0) / 1.5)

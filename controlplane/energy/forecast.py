"""Forecasts of a site's grid carbon and price for the next hours, from its own history.

Where a node's energy feed sends no forecast, the control plane makes one from
the hourly figures the node has reported: **seasonal-naive**, the same hour on
the past days, with today's departure from those days carried forward and
fading hour by hour (a blend with persistence). Grids repeat daily (solar,
demand) and drift slowly (weather, fuel prices), so the same hour of the past
days gives the shape and the latest hour the level. Pure NumPy over (N, T)
arrays, so one call forecasts a whole fleet.

Its error on the real 2023 hours of 16 grid zones, against persistence, is in
docs/forecast.md (benchmarks/forecast_error.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

HOURS_PER_DAY = 24
SOURCE_FEED = "feed"
SOURCE_SEASONAL = "seasonal-naive"
DEFAULT_DAYS = 7  # past days averaged at each hour: a week evens out one odd day
DEFAULT_DAMPING = 0.95  # per hour: today's departure halves in about 14 hours
DEFAULT_HORIZON_H = 24


def persistence(history: FloatArray, horizon_h: int) -> FloatArray:
    """(N, horizon_h): every next hour as the latest one. The baseline to beat."""
    h = np.atleast_2d(np.asarray(history, dtype=np.float64))
    return np.repeat(h[:, -1:], horizon_h, axis=1)


def seasonal_naive(
    history: FloatArray,
    horizon_h: int = DEFAULT_HORIZON_H,
    *,
    days: int = DEFAULT_DAYS,
    damping: float = DEFAULT_DAMPING,
) -> FloatArray:
    """(N, horizon_h): hour offsets 1..horizon_h after the last column of `history`.

    `history` is (N, T) hourly, oldest first, the last column the current
    hour; NaN where a node did not report. Offset k is the mean of the same
    hour on the last `days` days that `history` holds, plus today's departure
    from those days at the current hour times `damping`**k. `damping` 0 is
    plain seasonal-naive, 1 keeps the departure for good. Where a node has
    less than a day of history (or only NaN at those hours), the forecast
    falls back to persistence of its latest figure.
    """
    h = np.atleast_2d(np.asarray(history, dtype=np.float64))
    return with_departure(seasonal_shape(h, horizon_h, days=days), latest(h), damping)


def seasonal_shape(
    history: FloatArray, horizon_h: int = DEFAULT_HORIZON_H, *, days: int = DEFAULT_DAYS
) -> FloatArray:
    """(N, horizon_h + 1): the mean of the same hour on the past `days` days, offsets 0..K.

    The part of `seasonal_naive` that changes only once an hour: a caller
    that refreshes more often keeps it and adds the departure.
    """
    if horizon_h < 1:
        raise ValueError(f"horizon_h must be >= 1, got {horizon_h}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    h = np.atleast_2d(np.asarray(history, dtype=np.float64))
    n, t = h.shape
    if t == 0:
        return np.full((n, horizon_h + 1), np.nan)
    offsets = np.arange(horizon_h + 1)  # 0 is now, for the departure
    # For offset k, the same hour on past day d (1..days) back from the day of now + k:
    # now + k - 24 * ceil(k / 24) - 24 * (d - 1), which is <= now.
    base = t - 1 + offsets - HOURS_PER_DAY * np.maximum(1, -(-offsets // HOURS_PER_DAY))
    back = base[None, :] - HOURS_PER_DAY * np.arange(days)[:, None]  # (days, K + 1)
    valid = back >= 0
    same_hour = np.where(valid[None], h[:, np.clip(back, 0, None)], np.nan)  # (N, days, K + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no past day: NaN, handled later
        return np.asarray(np.nanmean(same_hour, axis=1))


def with_departure(
    shape: FloatArray, latest_figure: FloatArray, damping: float = DEFAULT_DAMPING
) -> FloatArray:
    """(N, K): `shape` (from `seasonal_shape`) plus the departure of the latest figure from
    its offset 0, fading by `damping` an hour; the latest figure where `shape` has none."""
    if not 0.0 <= damping <= 1.0:
        raise ValueError(f"damping must be in 0..1, got {damping}")
    departure = np.nan_to_num(latest_figure - shape[:, 0])
    fade = damping ** np.arange(1, shape.shape[1])
    out = shape[:, 1:] + departure[:, None] * fade[None, :]
    return np.where(np.isnan(out), latest_figure[:, None], out)


def hourly(now: FloatArray, forecast: FloatArray, hours: int) -> FloatArray:
    """(N, hours): this hour, then the forecast's hours; unknown or past it, the last known.

    `now` is (N,) (the figure for this hour), `forecast` (N, K) for hour
    offsets 1..K, NaN where unknown. With no forecast (K = 0) every hour is
    `now`: persistence.
    """
    current = np.asarray(now, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    f = f.reshape(len(current), -1) if f.size else np.empty((len(current), 0))
    series = np.empty((len(current), max(1, hours)))
    series[:, 0] = last = current
    for k in range(1, hours):
        if k <= f.shape[1]:
            last = np.where(np.isnan(f[:, k - 1]), last, f[:, k - 1])
        series[:, k] = last
    return series


def hour_weights(horizon_h: float) -> FloatArray:
    """(ceil(horizon_h),): each hour's share of the horizon, the last one fractional."""
    hours = max(1, int(np.ceil(horizon_h)))
    weight = np.ones(hours)
    weight[-1] = horizon_h - (hours - 1) if horizon_h > 0 else 1.0
    return weight


def horizon_mean(now: FloatArray, forecast: FloatArray, horizon_h: float) -> FloatArray:
    """(N,): the mean over the next `horizon_h` hours, the current hour included.

    As `hourly`: hours past the forecast, or unknown, keep the last known
    figure; a fractional horizon weighs its last hour by the fraction.
    """
    if horizon_h <= 0:
        return np.asarray(now, dtype=np.float64).copy()
    weight = hour_weights(horizon_h)
    return np.asarray(hourly(now, forecast, len(weight)) @ weight / horizon_h)


def latest(h: FloatArray) -> FloatArray:
    """(N,): each row's last non-NaN value (NaN if none)."""
    if h.shape[1] == 0:
        return np.full(len(h), np.nan)
    known = ~np.isnan(h)
    last = h.shape[1] - 1 - np.argmax(known[:, ::-1], axis=1)
    return np.where(known.any(axis=1), h[np.arange(len(h)), last], np.nan)

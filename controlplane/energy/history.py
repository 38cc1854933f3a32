"""The last week of each node's grid carbon and price, hour by hour, and the forecasts made from it.

The inventory records every heartbeat's figures here (a few cell writes: a
running sum and count per node and hour), and asks for the fleet's forecast
when it builds a snapshot. A node whose feed sends its own forecast keeps it
(source "feed"); the others get the seasonal-naive one (`forecast.py`) once
they have a day of history, and none before. Hours are of the clock passed in
(the inventory's monotonic clock): only their length matters to a daily
season, not where they start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from controlplane.energy.forecast import (
    DEFAULT_HORIZON_H,
    HOURS_PER_DAY,
    SOURCE_FEED,
    SOURCE_SEASONAL,
    FloatArray,
    seasonal_naive,
)

HISTORY_H = 7 * HOURS_PER_DAY + 1  # a week of past hours, and this one
REFRESH_S = 60.0  # the fleet's forecast is made again at most this often


@dataclass(frozen=True)
class FeedForecast:
    """A node's forecast as its feed sent it: hour offsets and figures, sorted by offset."""

    hour_offset: npt.NDArray[np.int64]
    carbon_g_per_kwh: FloatArray
    price_per_kwh: FloatArray


@dataclass(frozen=True)
class FleetForecast:
    """(N, K) carbon and price for hour offsets 1..K (NaN: unknown), and each node's source."""

    carbon_g_per_kwh: FloatArray
    price_per_kwh: FloatArray
    source: tuple[str, ...]  # feed | seasonal-naive | "" (none)


class EnergyHistory:
    def __init__(self, capacity: int = 256, *, hour_s: float = 3600.0) -> None:
        self._hour_s = hour_s
        self._column_hour = np.full(HISTORY_H, -1, np.int64)  # the hour each column holds
        self._now_hour = -1
        self._alloc(capacity)
        self._feed: dict[int, FeedForecast] = {}
        self._cached: tuple[int, int, FleetForecast] | None = None  # (rows, minute, forecast)

    def _alloc(self, rows: int) -> None:
        def grow(old: npt.NDArray[Any] | None, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
            new: npt.NDArray[Any] = np.zeros((rows, HISTORY_H), dtype)
            if old is not None:
                new[: len(old)] = old
            return new

        get = self.__dict__.get
        self._carbon = grow(get("_carbon"), np.float64)  # sums of the hour's figures
        self._price = grow(get("_price"), np.float64)
        self._count = grow(get("_count"), np.int32)

    def record(
        self, slot: int, carbon_g_per_kwh: float, price_per_kwh: float, now_s: float
    ) -> None:
        """One heartbeat's figures, into the node's current hour."""
        if slot >= len(self._carbon):
            self._alloc(max(slot + 1, 2 * len(self._carbon)))
        hour = int(now_s // self._hour_s)
        col = hour % HISTORY_H
        if self._column_hour[col] != hour:  # a new hour: this column held a week ago's
            self._carbon[:, col] = 0
            self._price[:, col] = 0
            self._count[:, col] = 0
            self._column_hour[col] = hour
        self._now_hour = max(self._now_hour, hour)
        self._carbon[slot, col] += carbon_g_per_kwh
        self._price[slot, col] += price_per_kwh
        self._count[slot, col] += 1

    def set_feed(self, slot: int, forecast: FeedForecast | None) -> None:
        """The forecast the node's feed sent with its last heartbeat (None: it sent none)."""
        if (slot in self._feed) != (forecast is not None):
            self._cached = None  # a node's source changed: show it at once
        if forecast is None:
            self._feed.pop(slot, None)
        else:
            self._feed[slot] = forecast

    def hourly(self, rows: int) -> tuple[FloatArray, FloatArray]:
        """(rows, HISTORY_H) mean carbon and price per hour, oldest first; NaN: no figure."""
        if rows > len(self._carbon):
            self._alloc(rows)
        if self._now_hour < 0:
            return np.full((rows, HISTORY_H), np.nan), np.full((rows, HISTORY_H), np.nan)
        hours = self._now_hour - HISTORY_H + 1 + np.arange(HISTORY_H)
        cols = hours % HISTORY_H
        held = self._column_hour[cols] == hours
        count = self._count[:rows, cols]
        known = (count > 0) & held[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            carbon = np.where(known, self._carbon[:rows, cols] / count, np.nan)
            price = np.where(known, self._price[:rows, cols] / count, np.nan)
        return carbon, price

    def forecast(
        self, rows: int, now_s: float, horizon_h: int = DEFAULT_HORIZON_H
    ) -> FleetForecast:
        """The fleet's forecast for the next `horizon_h` hours: the feed's, else seasonal-naive.

        Made again at most every REFRESH_S (the current hour's mean moves
        slowly), or when rows are added.
        """
        minute = int(now_s // REFRESH_S)
        if self._cached and self._cached[:2] == (rows, minute):
            return self._cached[2]
        carbon_h, price_h = self.hourly(rows)
        carbon = seasonal_naive(carbon_h, horizon_h)
        price = seasonal_naive(price_h, horizon_h)
        has_day = np.any(~np.isnan(carbon_h[:, : HISTORY_H - HOURS_PER_DAY]), axis=1)
        source = [SOURCE_SEASONAL if ok else "" for ok in has_day]
        carbon[~has_day] = np.nan
        price[~has_day] = np.nan
        for slot, feed in self._feed.items():
            if slot >= rows:
                continue
            ahead = (feed.hour_offset >= 1) & (feed.hour_offset <= horizon_h)
            carbon[slot] = np.nan
            carbon[slot, feed.hour_offset[ahead] - 1] = feed.carbon_g_per_kwh[ahead]
            if feed.price_per_kwh.any():  # a carbon-only feed (WattTime) keeps our price forecast
                price[slot] = np.nan
                price[slot, feed.hour_offset[ahead] - 1] = feed.price_per_kwh[ahead]
            source[slot] = SOURCE_FEED
        out = FleetForecast(carbon, price, tuple(source))
        self._cached = (rows, minute, out)
        return out

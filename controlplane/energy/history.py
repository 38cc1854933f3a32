"""The last week of each node's grid carbon and price, hour by hour, and the forecasts made from it.

The inventory samples its live columns into this history once a minute
(vectorised, off the heartbeat path), from the nodes that reported since the
last sample, and asks for the fleet's forecast when it builds a snapshot. A
node whose feed sends its own forecast keeps it (source "feed"); the others
get the seasonal-naive one (`forecast.py`: the same hour on the last 7
completed days, plus the current hour's departure from them, fading) once a
completed day holds the current hour of day, and none before.

The per-hour-of-day sums over the week are kept as hours complete (one add
and one subtract of an (N,) column an hour), so a forecast of the whole fleet
costs O(N x 24), not a pass over the week. Hours are of the clock passed in
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
    with_departure,
)

WEEK_H = 7 * HOURS_PER_DAY  # completed hours kept: seven of each hour of day
SAMPLE_S = 60.0  # how often the inventory samples its columns into the history


def grown_rows(rows: int) -> int:
    """The next capacity of per-node columns: a quarter more (at least 256 rows).

    Not double: the columns, with the energy history's, are the largest part of what the
    server itself keeps per node, and doubling left up to half of them unused
    (a 10,000-node fleet paid for 16,384). The inventory's columns grow alike.
    """
    return rows + max(256, rows // 4)


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
    # Per node: the current hour's running sums and sample count; the week's completed
    # hourly means (NaN: none); their sums by hour of day; the latest completed mean.
    _now_carbon: FloatArray
    _now_price: FloatArray
    _now_n: npt.NDArray[np.int32]
    _week_carbon: npt.NDArray[np.float32]
    _week_price: npt.NDArray[np.float32]
    _day_carbon: FloatArray
    _day_price: FloatArray
    _day_n: npt.NDArray[np.int32]
    _last_carbon: FloatArray
    _last_price: FloatArray

    def __init__(self, capacity: int = 256, *, hour_s: float = 3600.0) -> None:
        self._hour_s = hour_s
        self._hour = -1  # the current hour (the last sample's)
        self._ring_hour = np.full(WEEK_H, -1, np.int64)  # the completed hour each column holds
        self._rows = 0
        self._alloc(capacity)
        self._feed: dict[int, FeedForecast] = {}
        self._version = 0  # changes with every sample and every new feed forecast
        self._cached: tuple[int, int, FleetForecast] | None = None  # (version, rows, forecast)

    def _alloc(self, rows: int) -> None:
        def grow(name: str, shape: tuple[int, ...], dtype: npt.DTypeLike, fill: object) -> None:
            old: npt.NDArray[Any] | None = self.__dict__.get(name)
            new: npt.NDArray[Any] = np.full(shape, fill, dtype)
            if old is not None:
                new[: len(old)] = old
            setattr(self, name, new)

        self._rows = rows
        for name in ("_now_carbon", "_now_price"):  # the current hour's running sums
            grow(name, (rows,), np.float64, 0.0)
        grow("_now_n", (rows,), np.int32, 0)
        # Completed hourly means, NaN: none. float32: a week of them is most of what the
        # server keeps per node (1.3 kB), and 7 digits are more than any feed reports.
        for name in ("_week_carbon", "_week_price"):
            grow(name, (rows, WEEK_H), np.float32, np.nan)
        for name in ("_day_carbon", "_day_price"):  # sums over the week by hour of day
            grow(name, (rows, HOURS_PER_DAY), np.float64, 0.0)
        grow("_day_n", (rows, HOURS_PER_DAY), np.int32, 0)
        for name in ("_last_carbon", "_last_price"):  # the latest completed hour's mean
            grow(name, (rows,), np.float64, np.nan)

    def sample(
        self,
        carbon_g_per_kwh: FloatArray,
        price_per_kwh: FloatArray,
        fresh: npt.NDArray[np.bool_],
        now_s: float,
    ) -> None:
        """The fleet's figures now, (n,) each, into the current hour of the `fresh` rows."""
        n = len(fresh)
        if n > self._rows:
            self._alloc(max(n, grown_rows(self._rows)))
        hour = int(now_s // self._hour_s)
        if hour > self._hour:
            self._roll(hour)
        self._now_carbon[:n] += np.where(fresh, carbon_g_per_kwh, 0.0)
        self._now_price[:n] += np.where(fresh, price_per_kwh, 0.0)
        self._now_n[:n] += fresh
        self._version += 1

    def _roll(self, hour: int) -> None:
        """The current hour completes; hours that fall out of the week leave the sums."""
        done = self._hour
        for gone in range(done - WEEK_H, min(hour - WEEK_H, done)):  # usually one
            col = gone % WEEK_H
            if gone >= 0 and self._ring_hour[col] == gone:
                self._forget(col, gone % HOURS_PER_DAY)
        if done >= 0 and hour - done <= WEEK_H:  # still within the week: keep it
            col, hod = done % WEEK_H, done % HOURS_PER_DAY
            seen = self._now_n > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                # Rounded as kept, so that the sums take away exactly what they added.
                carbon = np.where(seen, self._now_carbon / self._now_n, np.nan).astype(np.float32)
                price = np.where(seen, self._now_price / self._now_n, np.nan).astype(np.float32)
            self._week_carbon[:, col], self._week_price[:, col] = carbon, price
            self._ring_hour[col] = done
            self._day_carbon[:, hod] += np.nan_to_num(carbon)
            self._day_price[:, hod] += np.nan_to_num(price)
            self._day_n[:, hod] += seen
            self._last_carbon = np.where(seen, carbon, self._last_carbon)
            self._last_price = np.where(seen, price, self._last_price)
        self._now_carbon[:] = self._now_price[:] = 0.0
        self._now_n[:] = 0
        self._hour = hour

    def _forget(self, col: int, hod: int) -> None:
        carbon, price = self._week_carbon[:, col], self._week_price[:, col]
        seen = ~np.isnan(carbon)
        self._day_carbon[:, hod] -= np.nan_to_num(carbon)
        self._day_price[:, hod] -= np.nan_to_num(price)
        self._day_n[:, hod] -= seen
        self._week_carbon[:, col] = self._week_price[:, col] = np.nan
        self._ring_hour[col] = -1

    def hourly(self, rows: int) -> tuple[FloatArray, FloatArray]:
        """(rows, WEEK_H) completed hourly means of carbon and price, oldest first; NaN: none."""
        if rows > self._rows:
            self._alloc(rows)
        hours = self._hour - WEEK_H + np.arange(WEEK_H)
        cols = hours % WEEK_H
        held = (self._ring_hour[cols] == hours) & (hours >= 0)
        return (
            np.where(held, self._week_carbon[:rows, cols], np.nan).astype(np.float64),
            np.where(held, self._week_price[:rows, cols], np.nan).astype(np.float64),
        )

    def set_feed(self, slot: int, forecast: FeedForecast | None) -> None:
        """The forecast the node's feed sent with its last heartbeat (None: it sent none)."""
        old = self._feed.get(slot)
        if forecast is None:
            if self._feed.pop(slot, None) is not None:
                self._version += 1
        elif old is None or not _same(old, forecast):
            self._feed[slot] = forecast
            self._version += 1

    def forecast(self, rows: int, horizon_h: int = DEFAULT_HORIZON_H) -> FleetForecast:
        """The fleet's forecast for the next `horizon_h` hours: the feed's, else seasonal-naive.

        Kept until the next sample or feed forecast: a fleet's node list asks once per node.
        """
        if self._cached and self._cached[:2] == (self._version, rows):
            return self._cached[2]
        if rows > self._rows:
            self._alloc(rows)
        hods = (max(self._hour, 0) + np.arange(horizon_h + 1)) % HOURS_PER_DAY
        count = self._day_n[:rows, hods]
        has_day = count[:, 0] > 0  # a completed day holds this hour of day
        now_n = self._now_n[:rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            shapes = [
                np.where(count > 0, day[:rows, hods] / count, np.nan)
                for day in (self._day_carbon, self._day_price)
            ]
            carbon_now = np.where(
                now_n > 0, self._now_carbon[:rows] / now_n, self._last_carbon[:rows]
            )
            price_now = np.where(now_n > 0, self._now_price[:rows] / now_n, self._last_price[:rows])
        carbon = with_departure(shapes[0], carbon_now)
        price = with_departure(shapes[1], price_now)
        carbon[~has_day] = np.nan
        price[~has_day] = np.nan
        source: list[str] = np.where(has_day, SOURCE_SEASONAL, "").tolist()
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
        self._cached = (self._version, rows, out)
        return out


def _same(a: FeedForecast, b: FeedForecast) -> bool:
    return (
        np.array_equal(a.hour_offset, b.hour_offset)
        and np.array_equal(a.carbon_g_per_kwh, b.carbon_g_per_kwh)
        and np.array_equal(a.price_per_kwh, b.price_per_kwh)
    )

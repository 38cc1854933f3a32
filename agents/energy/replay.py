"""The `replay` energy source: a grid zone's real hourly carbon and price, at the clock's hour.

For simulated fleets (`tpctl up`): a hollow node in a zone that the project's
extract covers (16 zones, 2023, Electricity Maps via green-dcc, ODbL: see
controlplane/localfleet/data/README.md) reports that zone's carbon intensity
and wholesale price for the simulated hour, so that every day differs as real
grids do. Any date maps onto the same day of year and hour of 2023 (the 366th
day of a leap year onto the 365th). Solar stays pvlib's clear-sky model, as in
`modelled`. Each figure's origin names the zone, the year and the hour replayed.

Like a grid feed, it also sends a forecast of the next hours: the control
plane's seasonal-naive (controlplane/energy/forecast.py) over the zone's week
before the simulated hour, never the replayed future, so that `tpctl up`
shows forecasts and re-plans on them from its first simulated hour.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from agents.config import SolarArray
from agents.energy import ForecastHour
from controlplane.energy.forecast import DEFAULT_HORIZON_H, seasonal_naive
from controlplane.resources.meta import Model

HOURS = 8760
NO_PRICE = -32768  # the extract's int16 sentinel for a zone without market prices


class ReplayEnergy(Model):
    """A hollow node's `agent.energy` section for replayed grid hours."""

    source: Literal["replay"]
    zone: str = Field(min_length=1)  # a zone of the extract, e.g. DE-LU
    path: Path  # the extract (controlplane/localfleet/data/grid_2023.npz)
    basis: Literal["lifecycle", "direct"] = "lifecycle"
    solar: SolarArray | None = None
    price_per_kwh: float = Field(default=0, ge=0)  # for a zone with no market prices

    @model_validator(mode="after")
    def _zone_in_extract(self) -> ReplayEnergy:
        """Refused when the fleet file is read, naming the zones there are, not at start-up."""
        try:
            load_grid_year(self.path).row(self.zone)
        except OSError as e:
            raise ValueError(f"path {self.path}: {e.strerror or e}") from None
        return self


@dataclass(frozen=True)
class GridYear:
    """The extract: per zone, 8,760 hours of carbon (g/kWh) and price (USD/MWh)."""

    year: int
    zones: tuple[str, ...]
    carbon_g_per_kwh: dict[str, npt.NDArray[np.uint16]]  # basis -> (zones, hours)
    price_usd_per_mwh: npt.NDArray[np.int16]  # (zones, hours); NO_PRICE where unknown

    def row(self, zone: str) -> int:
        try:
            return self.zones.index(zone)
        except ValueError:
            raise ValueError(
                f"zone {zone!r} is not in the replay extract; one of {', '.join(self.zones)}"
            ) from None

    def has_price(self, row: int) -> bool:
        return bool(self.price_usd_per_mwh[row, 0] != NO_PRICE)


@functools.cache
def load_grid_year(path: Path) -> GridYear:
    """Read once per process: a thousand hollow nodes share one copy (~0.6 MB)."""
    with np.load(path) as data:
        return GridYear(
            year=datetime.fromisoformat(str(data["start"])).year,
            zones=tuple(str(z) for z in data["zones"]),
            carbon_g_per_kwh={
                "lifecycle": data["carbon_lca_g_per_kwh"],
                "direct": data["carbon_direct_g_per_kwh"],
            },
            price_usd_per_mwh=data["price_usd_per_mwh"],
        )


def hour_of_year(time_s: float) -> int:
    """The hour of the year that `time_s` falls in, 0..8759, whatever the year."""
    when = datetime.fromtimestamp(time_s, UTC)
    start = datetime(when.year, 1, 1, tzinfo=UTC)
    return min(HOURS - 1, int((when - start).total_seconds() // 3600))


@dataclass(frozen=True)
class ZoneReplay:
    """One zone's figures at any instant of a (simulated) clock."""

    grid: GridYear
    zone: str
    basis: Literal["lifecycle", "direct"]
    fallback_price_per_kwh: float
    _forecasts: dict[int, tuple[ForecastHour, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )  # hour of year -> its forecast: made once an hour, shared by the zone's nodes

    @functools.cached_property
    def _row(self) -> int:
        return self.grid.row(self.zone)

    def carbon_g_per_kwh(self, time_s: float) -> float:
        return float(self.grid.carbon_g_per_kwh[self.basis][self._row, hour_of_year(time_s)])

    def price_per_kwh(self, time_s: float) -> float:
        if not self.grid.has_price(self._row):
            return self.fallback_price_per_kwh
        return float(self.grid.price_usd_per_mwh[self._row, hour_of_year(time_s)]) / 1000

    def forecast(self, time_s: float) -> tuple[ForecastHour, ...]:
        """The next 24 hours, seasonal-naive over the week up to the hour of `time_s`."""
        hour = hour_of_year(time_s)
        if hour not in self._forecasts:
            week = slice(max(0, hour - 7 * 24), hour + 1)
            carbon = self.grid.carbon_g_per_kwh[self.basis][self._row, week].astype(np.float64)
            ahead = seasonal_naive(carbon[None, :], DEFAULT_HORIZON_H)[0]
            if self.grid.has_price(self._row):
                prices = self.grid.price_usd_per_mwh[self._row, week] / 1000
                price = seasonal_naive(prices[None, :].astype(np.float64), DEFAULT_HORIZON_H)[0]
            else:
                price = np.full(DEFAULT_HORIZON_H, self.fallback_price_per_kwh)
            if len(self._forecasts) > 48:
                self._forecasts.clear()
            self._forecasts[hour] = tuple(
                ForecastHour(k + 1, round(float(c), 1), round(float(p), 5))
                for k, (c, p) in enumerate(zip(ahead, price, strict=True))
            )
        return self._forecasts[hour]

    @property
    def carbon_origin(self) -> str:
        return f"replay:electricitymaps({self.zone},{self.grid.year},hourly,{self.basis})"

    @property
    def price_origin(self) -> str:
        if self.grid.has_price(self._row):
            return f"replay:day-ahead({self.zone},{self.grid.year},hourly)"
        return "declared"


def zone_replay(config: ReplayEnergy) -> ZoneReplay:
    """Checked at start-up: a zone the extract lacks is a config error naming the zone."""
    replay = ZoneReplay(
        load_grid_year(config.path), config.zone, config.basis, config.price_per_kwh
    )
    replay.grid.row(config.zone)
    return replay

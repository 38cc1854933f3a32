"""The `modelled` energy source: for a site that has no feed, a model from public data.

Solar: pvlib's clear-sky model (Ineichen, with the Linke turbidity climatology
that pvlib ships, so it works offline) at the site's coordinates, transposed to
the array's tilt and azimuth, times the array's peak capacity (PVWatts at 25 °C)
and less its system losses. Clear sky is an upper bound: it rises and falls
with the sun but knows no clouds, which is why its origin says `modelled`.

Grid carbon: the country's annual life-cycle intensity as published in
codecarbon's energy-mix data (agents/data/README.md), an average, not this
hour's margin. Price: as declared in the config.

pvlib and pandas are imported only when this source is configured: they are
most of the agent's memory when they are (see benchmarks/agent_cost.py).
"""

from __future__ import annotations

import functools
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from agents.config import ConfigError, ModelledEnergy, SolarArray
from agents.energy import EnergyReading, Figure
from controlplane.resources import Location
from controlplane.resources.node import CarbonBasis

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SOLAR_ORIGIN = "modelled:pvlib-clearsky"
GAMMA_PDC = -0.004  # PVWatts' power temperature coefficient for a standard module, 1/°C


@dataclass(frozen=True)
class CountryCarbon:
    country: str
    name: str
    g_per_kwh: float
    year: int

    @property
    def origin(self) -> str:
        return f"modelled:codecarbon-energy-mix({self.country},{self.year},annual)"

    @property
    def basis(self) -> CarbonBasis:
        """A national annual average of life-cycle factors (Ember's, via codecarbon)."""
        return CarbonBasis(
            signal="average",
            scope="lifecycle",
            provenance="modelled",
            zone=self.country,
            time=str(self.year),
            provider="codecarbon",
        )


@functools.cache
def _grid_carbon() -> dict[str, dict[str, Any]]:
    text = resources.files("agents").joinpath("data/grid_carbon.json").read_text()
    countries: dict[str, dict[str, Any]] = json.loads(text)["countries"]
    return countries


def country_carbon(country: str) -> CountryCarbon | None:
    """The published annual grid carbon intensity of an ISO 3166-1 alpha-2 country."""
    row = _grid_carbon().get(country.upper())
    if row is None:
        return None
    return CountryCarbon(
        country=country.upper(),
        name=str(row["name"]),
        g_per_kwh=float(row["carbonGPerKwh"]),
        year=int(row["year"]),
    )


class SolarModel:
    """Clear-sky AC output of one PV array, in kW, for any instants."""

    def __init__(self, lat: float, lon: float, array: SolarArray) -> None:
        from controlplane.extras import require

        require("solar", "a modelled solar array")
        import pvlib

        self._pvlib = pvlib
        self._site = pvlib.location.Location(lat, lon, tz="UTC", altitude=array.altitude_m)
        self._array = array

    def power_kw(self, times: pd.DatetimeIndex) -> np.ndarray:
        pvlib, array = self._pvlib, self._array
        # pvlib 0.16 still calls pandas APIs that pandas 3 deprecates; that is pvlib's
        # business, not the operator's, so those warnings stay out of the agent's log.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            sun = self._site.get_solarposition(times)
            sky = self._site.get_clearsky(times, model="ineichen", solar_position=sun)
            poa = pvlib.irradiance.get_total_irradiance(
                array.tilt_deg,
                array.azimuth_deg,
                sun["apparent_zenith"],
                sun["azimuth"],
                sky["dni"],
                sky["ghi"],
                sky["dhi"],
            )["poa_global"]
        dc = pvlib.pvsystem.pvwatts_dc(poa, 25.0, array.capacity_kwp, GAMMA_PDC)
        result: np.ndarray = (dc * (1 - array.losses_percent / 100)).clip(lower=0).to_numpy()
        return result

    def power_kw_at(self, when: datetime) -> float:
        import pandas as pd

        return float(self.power_kw(pd.DatetimeIndex([when]))[0])


class ModelledSource:
    """Recomputes at most every `recomputeSeconds` (the sun moves slowly; pvlib costs ~20 ms)."""

    def __init__(
        self,
        config: ModelledEnergy,
        location: Location,
        clock: Callable[[], float] = time.time,
    ) -> None:
        country = config.country or location.country
        if not country:
            raise ConfigError(
                "agent.energy.country: needed for grid carbon (or set spec.location.country)"
            )
        carbon = country_carbon(country)
        if carbon is None:
            raise ConfigError(f"agent.energy.country: no published grid carbon for {country!r}")
        self._carbon = Figure(carbon.g_per_kwh, carbon.origin)
        self._carbon_basis = carbon.basis
        self._price = Figure(config.price_per_kwh, "declared")
        self._solar = SolarModel(location.lat, location.lon, config.solar) if config.solar else None
        self._recompute_s = config.recompute_seconds
        self._clock = clock
        self._reading: EnergyReading | None = None
        self._computed_at = 0.0

    def reading_at(self, when: datetime) -> EnergyReading:
        renewable = (
            Figure(self._solar.power_kw_at(when), SOLAR_ORIGIN)
            if self._solar
            else Figure(0.0, "declared:no-solar")
        )
        return EnergyReading(
            renewable_kw=renewable,
            carbon_g_per_kwh=self._carbon,
            carbon_basis=self._carbon_basis,
            price_per_kwh=self._price,
        )

    def read(self) -> EnergyReading:
        now = self._clock()
        if self._reading is None or now - self._computed_at >= self._recompute_s:
            self._reading = self.reading_at(datetime.fromtimestamp(now, UTC))
            self._computed_at = now
        return self._reading

    async def run(self) -> None:
        return

"""Clear-sky PV output of many sites at once, a day at a time, for hollow fleets.

`SolarModel` (modelled.py) asks pvlib for one site: ~50 ms for a day of
5-minute values, so 1,000 hollow sites would take most of a minute to start and
could never be asked per heartbeat. This table computes every site's day in one
vectorised pass (1,000 sites x 289 instants in ~0.2 s) and a heartbeat then only
interpolates between two stored values.

Same physics as `SolarModel`, from pvlib's array functions: Ineichen clear sky
with pvlib's Linke turbidity climatology (interpolated daily between monthly
values), isotropic-sky transposition (pvlib's default) to the array's tilt and
azimuth, PVWatts DC at 25 °C less system losses. Two shortcuts: the sun's
position comes from Spencer's (1971) analytical declination and equation of
time instead of the SPA (against `SolarModel` at eight sites on two days: a
day's energy within 0.5%, any instant within 13 kW per 1,000 kWp); and the
altitude and turbidity grids that pvlib ships are read once (a month's plane)
for all sites, not opened per site.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agents.config import SolarArray

STEP_S = 300  # 5-minute values
DAY_S = 86_400
STEPS_PER_DAY = DAY_S // STEP_S
GAMMA_PDC = -0.004  # PVWatts' power temperature coefficient, 1/°C (as modelled.py)
DAYS_KEPT = 3  # computed days held in memory
# pvlib's gridded data: rows from 90°N to 90°S, columns from 180°W to 180°E, 5' apart
GRID_ROWS, GRID_COLUMNS = 2160, 4320
ALTITUDE_NODATA = 255  # pvlib: "255 is a special value that means nodata"; 28 m steps from -450 m
LINKE_SCALE = 20.0  # pvlib: the file holds 20 x Linke turbidity

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Site:
    lat: float
    lon: float
    array: SolarArray


def _grid_index(lat: FloatArray, lon: FloatArray) -> tuple[npt.NDArray[np.intp], ...]:
    """Row and column of pvlib's 5' grids for each point (nearest node, as pvlib rounds)."""
    row = np.rint((90 - 90 / GRID_ROWS - lat) * GRID_ROWS / 180)
    column = np.rint((lon + 180 - 180 / GRID_COLUMNS) * GRID_COLUMNS / 360)
    return (
        np.clip(row, 0, GRID_ROWS - 1).astype(np.intp),
        np.clip(column, 0, GRID_COLUMNS - 1).astype(np.intp),
    )


def _pvlib_data(name: str) -> Path:
    import pvlib

    return Path(pvlib.__file__).parent / "data" / name


class ClearSkyTable:
    """AC kW of each site's array at any instant, from days computed once and cached."""

    def __init__(self, sites: Sequence[Site]) -> None:
        self._sites = list(sites)
        n = len(self._sites)
        self._lat = np.array([s.lat for s in self._sites], dtype=np.float64)
        self._lon = np.array([s.lon for s in self._sites], dtype=np.float64)
        self._tilt = np.array([s.array.tilt_deg for s in self._sites], dtype=np.float64)
        self._azimuth = np.array([s.array.azimuth_deg for s in self._sites], dtype=np.float64)
        self._kwp = np.array([s.array.capacity_kwp for s in self._sites], dtype=np.float64)
        self._losses = np.array([s.array.losses_percent for s in self._sites], dtype=np.float64)
        self._grid = _grid_index(self._lat, self._lon)
        self._altitude_m = self._altitudes(np.full(n, np.nan))
        self._days: OrderedDict[int, FloatArray] = OrderedDict()
        self._linke_months: dict[int, FloatArray] = {}

    def __len__(self) -> int:
        return len(self._sites)

    def _altitudes(self, given: FloatArray) -> FloatArray:
        """Each array's `altitudeM`, else pvlib's altitude map at the site (as `SolarModel`)."""
        for i, s in enumerate(self._sites):
            if s.array.altitude_m is not None:
                given[i] = s.array.altitude_m
        missing = np.isnan(given)
        if missing.any():
            import h5py

            with h5py.File(_pvlib_data("Altitude.h5"), "r") as f:
                raw = f["Altitude"][()][self._grid].astype(np.float64)
            looked_up = np.where(raw == ALTITUDE_NODATA, 0.0, raw * 28 - 450)
            given[missing] = looked_up[missing]
        return given

    def _linke_month(self, month: int) -> FloatArray:
        """Linke turbidity of every site for month 0-11, from pvlib's climatology (~60 ms)."""
        values = self._linke_months.get(month)
        if values is None:
            import h5py

            with h5py.File(_pvlib_data("LinkeTurbidities.h5"), "r") as f:
                plane = f["LinkeTurbidity"][:, :, month]
            values = self._linke_months[month] = (
                np.asarray(plane[self._grid], dtype=np.float64) / LINKE_SCALE
            )
        return values

    def _linke(self, day_of_year: int) -> FloatArray:
        """Daily values between the mid-month ones, as pvlib's `interp_turbidity`."""
        position = (day_of_year - 15.5) / (365 / 12)  # 0 at mid-January
        before = math.floor(position)
        frac = position - before
        return (1 - frac) * self._linke_month(before % 12) + frac * self._linke_month(
            (before + 1) % 12
        )

    def _compute_day(self, day: int) -> FloatArray:
        """(sites, STEPS_PER_DAY + 1) kW from 00:00 UTC of day `day` (days since 1970)."""
        import pandas as pd
        import pvlib

        times = pd.date_range(
            pd.Timestamp(day * DAY_S, unit="s", tz="UTC"),
            periods=STEPS_PER_DAY + 1,
            freq=f"{STEP_S}s",
        )
        day_of_year = times.day_of_year.to_numpy()[None, :]
        hours = (times.hour + times.minute / 60).to_numpy()[None, :]
        sp = pvlib.solarposition
        declination = sp.declination_spencer71(day_of_year)
        eot_min = sp.equation_of_time_spencer71(day_of_year)
        hour_angle = np.radians(15 * (hours - 12) + self._lon[:, None] + eot_min / 4)
        lat = np.radians(self._lat)[:, None]
        zenith = sp.solar_zenith_analytical(lat, hour_angle, declination)
        azimuth = sp.solar_azimuth_analytical(lat, hour_angle, declination, zenith)
        zenith_deg, azimuth_deg = np.degrees(zenith), np.degrees(azimuth)
        altitude = self._altitude_m[:, None]
        # pvlib on pandas 3 warns about its own pandas calls; not the operator's business
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            airmass = pvlib.atmosphere.get_absolute_airmass(
                pvlib.atmosphere.get_relative_airmass(zenith_deg),
                pvlib.atmosphere.alt2pres(altitude),
            )
            sky = pvlib.clearsky.ineichen(
                zenith_deg,
                airmass,
                self._linke(int(times[0].day_of_year))[:, None],
                altitude,
                pvlib.irradiance.get_extra_radiation(day_of_year),
            )
            poa = pvlib.irradiance.get_total_irradiance(
                self._tilt[:, None],
                self._azimuth[:, None],
                zenith_deg,
                azimuth_deg,
                sky["dni"],
                sky["ghi"],
                sky["dhi"],
            )["poa_global"]
            dc = pvlib.pvsystem.pvwatts_dc(poa, 25.0, self._kwp[:, None], GAMMA_PDC)
        ac = np.nan_to_num(np.asarray(dc) * (1 - self._losses[:, None] / 100))
        return np.clip(ac, 0.0, None)

    def day(self, day: int) -> FloatArray:
        values = self._days.get(day)
        if values is None:
            values = self._days[day] = self._compute_day(day)
            while len(self._days) > DAYS_KEPT:
                self._days.popitem(last=False)
        return values

    def power_kw(self, site: int, when_s: float) -> float:
        """kW of site `site` at Unix time `when_s`, linear between 5-minute values."""
        day, into_s = divmod(when_s, DAY_S)
        position = into_s / STEP_S
        step = int(position)
        values = self.day(int(day))[site]
        frac = position - step
        return float(values[step] * (1 - frac) + values[step + 1] * frac)

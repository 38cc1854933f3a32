"""Where a node's energy figures come from: one small interface, a source per kind of site.

A site with no feed declares its figures (`static`); one whose systems already
know them writes a JSON file (`file`) or serves it (`http`); one with neither
is modelled from its coordinates (`modelled`: pvlib's clear-sky solar, and the
country's published grid carbon); one that buys a grid signal reads it from the
provider (`electricitymaps`: the zone's average; `watttime`: its margin).
Every figure carries its origin, and the heartbeat says it
(`renewable=modelled:pvlib-clearsky ...`), so that nobody mistakes a model or a
declaration for a meter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agents.config import (
    ElectricityMapsEnergy,
    EnergyConfig,
    FileEnergy,
    HttpEnergy,
    ModelledEnergy,
    StaticEnergy,
    WattTimeEnergy,
)
from controlplane.resources import Location
from controlplane.resources.node import CarbonBasis


@dataclass(frozen=True, slots=True)
class Figure:
    value: float
    origin: str  # e.g. "declared", "file:/run/site.json", "modelled:pvlib-clearsky"


@dataclass(frozen=True, slots=True)
class ForecastHour:
    """One hour of a feed's forecast: hours after the current one (1: the next hour)."""

    hour_offset: int
    carbon_g_per_kwh: float
    price_per_kwh: float = 0.0  # 0: the feed forecasts no price


@dataclass(frozen=True, slots=True)
class EnergyReading:
    """The latest figures; None where the source does not know one."""

    renewable_kw: Figure | None = None
    carbon_g_per_kwh: Figure | None = None
    price_per_kwh: Figure | None = None
    it_draw_kw: Figure | None = None  # a site meter's reading, where there is one
    budget_kw: Figure | None = None  # a site's live limit, where it differs from the spec
    curtail_to_kw: Figure | None = None  # a grid demand-response signal: draw at most this now
    carbon_basis: CarbonBasis | None = None  # what carbon_g_per_kwh is (docs/energy.md)
    forecast: tuple[ForecastHour, ...] = ()  # the feed's next hours, if it has any (forecast.md)


class EnergySource(Protocol):
    def read(self) -> EnergyReading:
        """The latest reading; cheap and non-blocking (called on every heartbeat)."""
        ...

    async def run(self) -> None:
        """Keeps the reading current in the background, for sources that poll; else returns."""


def build_source(config: EnergyConfig, location: Location) -> EnergySource:
    if isinstance(config, StaticEnergy):
        from agents.energy.feeds import StaticSource

        return StaticSource(config)
    if isinstance(config, FileEnergy):
        from agents.energy.feeds import FileSource

        return FileSource(config)
    if isinstance(config, HttpEnergy):
        from agents.energy.feeds import HttpSource

        return HttpSource(config)
    if isinstance(config, ElectricityMapsEnergy):
        from agents.energy.electricitymaps import ElectricityMapsSource

        return ElectricityMapsSource(config, location)
    if isinstance(config, WattTimeEnergy):
        from agents.energy.watttime import WattTimeSource

        return WattTimeSource(config, location)
    assert isinstance(config, ModelledEnergy)
    from agents.energy.modelled import ModelledSource

    return ModelledSource(config, location)

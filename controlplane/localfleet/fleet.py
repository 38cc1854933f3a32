"""The default fleet of `tpctl up`: token factories, cloud regions and edge nodes in real places.

Where things are is real data (data/README.md): each node sits in a real city
or cloud region, with GeoNames' coordinates and population. What the sites are
is a stated assumption, since no public data set describes them:

- **factories** (tier `factory`): 2-4 MW sites in the cities of FACTORY_SITES,
  chosen to spread over the markets and over grids from hydro and nuclear to
  coal; the budget varies per site (a stable hash of its name), 30% of it
  goes to H100 servers at their full 10.2 kW per 8 GPUs (NVIDIA's figure for a
  DGX H100; the rest is cooling, network, storage and headroom), hence
  hundreds of GPUs a site; each has co-located PV of 1 kWp per kW of budget.
- **cloud** (tier `cloud`): a GPU quota in the cloud regions of CLOUD_SITES,
  at cloud-regions-info's coordinates; no on-site solar.
- **edge** (tier `edge`): a 10 kW box of 4 L4 GPUs with 12 kWp of rooftop PV
  in each of the largest cities, shared out between continents by EDGE_SHARE.

A node in a grid zone of the replay extract (data/grid_2023.npz: 16 zones, a
year of hours) reports that zone's real carbon intensity and price for the
simulated hour (`replay`); any other node's grid carbon is `modelled`: its
country's published annual average (codecarbon's energy-mix data). Solar is
pvlib's clear-sky PV at the node's coordinates and the hour of the (possibly
simulated) clock. The nodes' heartbeats say which figure is which.
"""

from __future__ import annotations

import unicodedata
import zlib
from typing import Any

from agents.energy.modelled import country_carbon
from agents.energy.zones import zone_at
from controlplane.localfleet.places import (
    CONTINENT_REGIONS,
    City,
    cities,
    city,
    cloud_regions,
    continent_of,
    grid_extract,
)
from controlplane.resources import API_VERSION

# (city, country), in the order the fleet takes them: each prefix spreads over the markets.
# Most sit in grid zones with real hours in the replay extract (data/README.md); a few,
# such as hydro-powered Montréal, do not, and keep the modelled country average.
FACTORY_SITES = (
    ("Frankfurt am Main", "DE"),  # DE-LU
    ("Dallas", "US"),  # US-TEX-ERCO
    ("Tokyo", "JP"),  # JP-TK
    ("Madrid", "ES"),  # no zone in the extract; a second EU site for the smallest fleet
    ("Toronto", "CA"),  # CA-ON
    ("Mumbai", "IN"),  # IN-WE
    ("Montréal", "CA"),  # Québec: no zone in the extract
    ("London", "GB"),  # GB
    ("Singapore", "SG"),  # SG
    ("São Paulo", "BR"),  # BR-SP
    ("Sydney", "AU"),  # AU-NSW
    ("San Jose", "US"),  # US-CAL-CISO
    ("Seoul", "KR"),  # KR
    ("Johannesburg", "ZA"),  # ZA
    ("Chicago", "US"),  # US-MIDA-PJM
    ("Stockholm", "SE"),
    ("Santiago", "CL"),  # CL-SIC
    ("Melbourne", "AU"),  # AU-VIC
    ("New York City", "US"),  # US-NY-NYIS
    ("Paris", "FR"),
    ("Milan", "IT"),
    ("Warsaw", "PL"),
    ("Phoenix", "US"),
    ("Seattle", "US"),
    ("Osaka", "JP"),
    ("Lisbon", "PT"),
)
# (provider, region), in the order the fleet takes them.
CLOUD_SITES = (
    ("aws", "us-east-1"),
    ("gcp", "europe-west4"),
    ("azure", "japaneast"),
    ("aws", "eu-north-1"),
    ("gcp", "us-central1"),
    ("aws", "ap-south-1"),
    ("azure", "westeurope"),
    ("aws", "sa-east-1"),
    ("gcp", "australia-southeast1"),
)
# Share of the edge nodes per continent (GeoNames' codes); within one, the largest cities first.
EDGE_SHARE = {"AS": 0.35, "EU": 0.2, "NA": 0.2, "SA": 0.1, "AF": 0.1, "OC": 0.05}

FACTORY_BUDGET_KW = (2000, 4000)
FACTORY_GPU_POWER_SHARE = 0.3  # of the site budget, for GPU servers at full draw
GPU_SERVER_KW = 10.2  # an 8-GPU H100 server (DGX H100) at its maximum system power
FACTORY_PUE = 1.25
FACTORY_PV_KWP_PER_KW = 1.0
CLOUD_BUDGET_KW = 200
CLOUD_GPUS = 128  # an H100 quota
CLOUD_PUE = 1.1
EDGE_BUDGET_KW = 10
EDGE_GPUS = 4
EDGE_PV_KWP = 12
H100 = {"model": "H100", "memoryGb": 80}
L4 = {"model": "L4", "memoryGb": 24}
DEFAULT_NODES = 100
MIN_FACTORIES = 4


def slug(text: str) -> str:
    """A DNS-1123 label from a place name: 'São Paulo' -> 'sao-paulo'."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = "".join(ch if ch.isalnum() else " " for ch in ascii_.lower()).split()
    return "-".join(words)


def _solar(kwp: float, lat: float, tilt_deg: float) -> dict[str, Any]:
    """A fixed array facing the equator."""
    return {"capacityKwp": round(kwp, 1), "tiltDeg": tilt_deg, "azimuthDeg": 0 if lat < 0 else 180}


def _node(
    name: str,
    tier: str,
    place: dict[str, Any],
    labels: dict[str, str],
    gpus: dict[str, Any],
    budget_kw: float,
    pue: float | None,
    solar: dict[str, Any] | None,
) -> dict[str, Any]:
    zone = zone_at(place["lat"], place["lon"], place["country"])
    energy: dict[str, Any] = (
        {"source": "replay", "zone": zone, "path": str(grid_extract())}
        if zone
        else {"source": "modelled"}
    )
    if solar:
        energy["solar"] = solar
    power: dict[str, Any] = {"budgetKw": budget_kw}
    if pue:
        power["pue"] = pue
    return {
        "apiVersion": API_VERSION,
        "kind": "Node",
        "metadata": {"name": name, "labels": {"tier": tier, **labels}},
        "spec": {
            "tier": tier,
            "location": place,
            "capacity": {"gpus": [gpus]},
            "power": power,
        },
        "agent": {"energy": energy},
    }


def _city_place(c: City) -> dict[str, Any]:
    return {
        "lat": c.lat,
        "lon": c.lon,
        "region": CONTINENT_REGIONS[c.continent],
        "country": c.country,
        "city": c.name,
    }


def factory(c: City) -> dict[str, Any]:
    name = f"factory-{slug(c.name)}"
    low, high = FACTORY_BUDGET_KW
    budget_kw = low + (zlib.crc32(name.encode()) % 21) * (high - low) / 20
    servers = int(budget_kw * FACTORY_GPU_POWER_SHARE / GPU_SERVER_KW)
    return _node(
        name,
        "factory",
        _city_place(c),
        {"site": slug(c.name)},
        {**H100, "count": 8 * servers},
        budget_kw,
        FACTORY_PUE,
        _solar(budget_kw * FACTORY_PV_KWP_PER_KW, c.lat, tilt_deg=25),
    )


def edge(c: City) -> dict[str, Any]:
    site = f"{slug(c.name)}-{c.country.lower()}"
    return _node(
        f"edge-{site}",
        "edge",
        _city_place(c),
        {"site": site},
        {**L4, "count": EDGE_GPUS},
        EDGE_BUDGET_KW,
        None,
        _solar(EDGE_PV_KWP, c.lat, tilt_deg=20),
    )


def cloud(provider: str, code: str) -> dict[str, Any]:
    r = cloud_regions()[(provider, code)]
    place = {
        "lat": r.lat,
        "lon": r.lon,
        "region": CONTINENT_REGIONS[continent_of(r.country)],
        "country": r.country,
        "city": r.location,
    }
    return _node(
        f"cloud-{provider}-{code}",
        "cloud",
        place,
        {"provider": provider, "site": code},
        {**H100, "count": CLOUD_GPUS},
        CLOUD_BUDGET_KW,
        CLOUD_PUE,
        None,
    )


def _shares(total: int, weights: dict[str, float]) -> dict[str, int]:
    """`total` split by `weights`, largest remainders first, so the parts add up."""
    raw = {k: total * w / sum(weights.values()) for k, w in weights.items()}
    parts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: parts[k] - raw[k])[: total - sum(parts.values())]:
        parts[k] += 1
    return parts


def edge_cities(n: int) -> list[City]:
    """The `n` edge cities: per continent its share of `n`, largest cities first.

    A continent with fewer cities than its share leaves the rest to the largest
    cities anywhere. Cities in countries without published grid carbon (Kosovo,
    for one) are left out: their energy could not be modelled.
    """
    quota = _shares(n, EDGE_SHARE)
    candidates = [c for c in cities() if country_carbon(c.country) is not None]
    chosen: list[City] = []
    for c in candidates:
        if quota.get(c.continent, 0) > 0:
            chosen.append(c)
            quota[c.continent] -= 1
    taken = set(chosen)
    chosen += [c for c in candidates if c not in taken][: n - len(chosen)]
    return chosen


def fleet_sizes(n_nodes: int) -> tuple[int, int, int]:
    """(factories, cloud regions, edge nodes) for a fleet of `n_nodes`."""
    factories = min(len(FACTORY_SITES), max(MIN_FACTORIES, n_nodes // 4))
    clouds = min(len(CLOUD_SITES), n_nodes // 12)
    return factories, clouds, max(0, n_nodes - factories - clouds)


def default_fleet(n_nodes: int = DEFAULT_NODES) -> list[dict[str, Any]]:
    """Node documents (manifest plus `agent.energy`) for a fleet of about `n_nodes`."""
    n_factories, n_clouds, n_edge = fleet_sizes(n_nodes)
    docs = [
        *(factory(city(name, country)) for name, country in FACTORY_SITES[:n_factories]),
        *(cloud(provider, code) for provider, code in CLOUD_SITES[:n_clouds]),
        *(edge(c) for c in edge_cities(n_edge)),
    ]
    seen: dict[str, int] = {}
    for doc in docs:  # two cities of one name in one country: edge-aurangabad-in-2
        meta = doc["metadata"]
        seen[meta["name"]] = n = seen.get(meta["name"], 0) + 1
        if n > 1:
            meta["name"] = f"{meta['name']}-{n}"
    return docs

"""Which grid zone a site is in, from its coordinates: a coarse table of the zones we know.

Grid zones (Electricity Maps' names) are the unit that carbon figures and
contracts are given in. Their real borders follow states and utility
territories; this table holds, for each zone with real hours in the project's
data (the 16 of the 2023 extract), its country, a few latitude/longitude boxes
that cover its load centres, and a centroid. A site is in a zone when its
country matches (where the site says one) and a box holds it; where boxes
overlap, the nearest centroid wins. Near a border this can be wrong (a box is
not a state line), so a node's config can name its zone, and a site outside
every box gets no zone: its figures stay modelled from the country, said as
such, rather than borrowed from a neighbour (Québec is not Ontario).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Box = tuple[float, float, float, float]  # lat_min, lat_max, lon_min, lon_max


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    countries: tuple[str, ...]
    centroid: tuple[float, float]  # lat, lon of the zone's load centre
    boxes: tuple[Box, ...]

    def holds(self, lat: float, lon: float) -> bool:
        return any(a <= lat <= b and c <= lon <= d for a, b, c, d in self.boxes)


ZONES: tuple[Zone, ...] = (
    Zone(
        "US-CAL-CISO",
        ("US",),
        (35.5, -119.5),
        ((39.0, 42.0, -124.5, -120.0), (35.0, 39.0, -124.5, -117.8), (32.5, 35.0, -124.5, -114.5)),
    ),
    Zone("US-TEX-ERCO", ("US",), (31.0, -97.5), ((25.8, 34.0, -103.0, -93.8),)),
    Zone(
        "US-NY-NYIS",
        ("US",),
        (41.9, -74.9),
        ((42.0, 45.1, -79.8, -73.3), (41.0, 42.0, -75.3, -73.3), (40.5, 41.0, -74.05, -71.8)),
    ),
    Zone("US-MIDA-PJM", ("US",), (40.0, -78.5), ((36.5, 42.0, -90.0, -74.0),)),
    Zone("CA-ON", ("CA",), (44.5, -79.5), ((41.6, 57.0, -95.2, -74.3),)),
    Zone("DE-LU", ("DE", "LU"), (50.9, 10.0), ((47.2, 55.1, 5.7, 15.1),)),
    Zone("GB", ("GB",), (53.0, -1.8), ((49.8, 61.0, -8.7, 1.9),)),
    Zone("BR-SP", ("BR",), (-22.5, -48.5), ((-25.4, -19.7, -53.2, -44.1),)),
    Zone("CL-SIC", ("CL",), (-33.5, -70.7), ((-56.0, -17.5, -76.0, -66.0),)),
    Zone("ZA", ("ZA",), (-28.5, 25.0), ((-35.0, -22.0, 16.4, 33.0),)),
    Zone("AU-NSW", ("AU",), (-33.0, 149.0), ((-37.6, -28.1, 141.0, 153.7),)),
    Zone("AU-VIC", ("AU",), (-37.3, 144.5), ((-39.2, -33.9, 140.9, 150.0),)),
    Zone("IN-WE", ("IN",), (20.5, 75.0), ((15.6, 26.9, 68.1, 84.4),)),
    Zone("JP-TK", ("JP",), (35.7, 139.7), ((34.8, 37.2, 138.4, 141.0),)),
    Zone("KR", ("KR",), (36.5, 127.8), ((33.0, 38.7, 124.5, 131.0),)),
    Zone("SG", ("SG",), (1.35, 103.82), ((1.1, 1.5, 103.6, 104.1),)),
)


def _distance_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance in degrees: enough to rank a few nearby centroids."""
    dlon = (a[1] - b[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(a[0] - b[0], dlon)


def zone_at(lat: float, lon: float, country: str = "") -> str | None:
    """The zone holding (lat, lon), or None where the table has none (see the module's doc)."""
    candidates = [z for z in ZONES if (not country or country in z.countries) and z.holds(lat, lon)]
    if not candidates:
        return None
    return min(candidates, key=lambda z: _distance_deg((lat, lon), z.centroid)).name

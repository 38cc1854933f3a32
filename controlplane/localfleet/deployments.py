"""The sample ModelDeployments of `tpctl up`: real markets, each asking the scheduler something.

- `chat-eu`: a 70B chat model for the EU's largest cities, on factories in EU
  member states only (data residency): by day it can follow the sun south, by
  night it wants the cleanest grid (hydro, nuclear).
- `code-assist-na`: a code model for North America, on factories or cloud.
- `chat-asia`: a mid-size chat model for Asia's largest cities. Four replicas:
  Istanbul is 60 ms from none of the sites that serve East, South and
  Southeast Asia, so three could not serve all of them within the SLO.
- `assistant-edge`: a small model for Western Europe that must stay on edge
  nodes (`privacy: edge-only`), where rooftop solar comes and goes. Three
  replicas: no two edge nodes of the default fleet are within 20 ms of London,
  Madrid and Rome alike.
- `chat-world`: one deployment for the world's largest cities. No site is
  within 100 ms of them all, so its replicas spread over the continents, each
  serving the users near it, and the spare ones go where power is cleanest.

Demand comes from populations (data/README.md): a market's largest cities are
its demand points, and each weighs the people of every city of 100,000 or more
in the market that is nearer to it than to any other point (millions). Over the
day demand follows DAILY_SHAPE in each point's local (mean solar) time; the
report weighs the share of demand served within the SLO by it. The scheduler
places against the population weights: the spec carries no time of day.

Throughput per replica (the `tokenplane.io/tokens-per-second` annotation, which
`tpctl top deployments` and the report turn into carbon per million tokens) is
an assumption of this sample, the order of magnitude of batched vLLM serving on
those GPUs, not a measurement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from controlplane.cli.metrics import TOKENS_PER_SECOND_ANNOTATION
from controlplane.localfleet.places import EU_COUNTRIES, City, cities
from controlplane.resources import (
    DemandPoint,
    ModelDeployment,
    ModelDeploymentSpec,
    ModelRef,
    ObjectMeta,
    PlacementConstraints,
    ReplicaResources,
)
from controlplane.resources.node import Tier
from controlplane.scheduler.geo import great_circle_km

SAMPLE_LABEL = "tokenplane.io/sample"
# Share of the daily peak by local hour 0-23: low before dawn, a working-day plateau,
# the evening peak. An assumed shape (that of typical interactive traffic), not data.
DAILY_SHAPE = (
    0.35,
    0.25,
    0.2,
    0.18,
    0.18,
    0.22,
    0.35,
    0.55,
    0.75,
    0.85,
    0.9,
    0.92,
    0.9,
    0.9,
    0.88,
    0.86,
    0.86,
    0.88,
    0.92,
    0.97,
    1.0,
    0.95,
    0.75,
    0.5,
)
H100_KW = 10.2 / 8  # a DGX H100's maximum system power per GPU
L4_KW = 0.3  # a 72 W L4 with its share of a small edge server

POINT_SPACING_KM = 100  # so that Brooklyn and Queens count as New York
WESTERN_EUROPE = ("GB", "IE", "FR", "BE", "NL", "LU", "DE", "CH", "AT", "ES", "PT", "IT", "DK")


@dataclass(frozen=True)
class Sample:
    name: str
    model: str
    replicas: int
    gpus: int
    gpu_model: str
    gpu_memory_gb: float
    power_kw: float
    tokens_per_s: float  # assumed, per replica
    market: Callable[[City], bool]
    demand_points: int
    latency_slo_ms: float
    tiers: tuple[Tier, ...] = ()
    countries: tuple[str, ...] = ()
    privacy: Literal["", "edge-only"] = ""
    min_sites: int = 1


SAMPLES = (
    Sample(
        "chat-eu",
        "llama-3.1-70b-instruct",
        3,
        4,
        "H100",
        80,
        4 * H100_KW,
        2400,
        lambda c: c.country in EU_COUNTRIES,
        12,
        45,
        ("factory",),
        EU_COUNTRIES,
        min_sites=2,
    ),
    Sample(
        "code-assist-na",
        "qwen2.5-coder-32b-instruct",
        3,
        2,
        "H100",
        80,
        2 * H100_KW,
        2000,
        lambda c: c.country in ("US", "CA"),
        12,
        60,
        ("factory", "cloud"),
        ("US", "CA"),
    ),
    Sample(
        "chat-asia",
        "qwen2.5-14b-instruct",
        4,
        1,
        "H100",
        80,
        H100_KW,
        2500,
        lambda c: c.continent == "AS",
        12,
        60,
        ("factory", "cloud"),
    ),
    Sample(
        "assistant-edge",
        "llama-3.2-3b-instruct",
        3,
        1,
        "L4",
        24,
        L4_KW,
        800,
        lambda c: c.country in WESTERN_EUROPE,
        8,
        20,
        ("edge",),
        privacy="edge-only",
    ),
    Sample(
        "chat-world",
        "llama-3.1-8b-instruct",
        5,
        1,
        "H100",
        80,
        H100_KW,
        3000,
        lambda c: True,
        16,
        100,
        ("factory", "cloud"),
        min_sites=3,
    ),
)


def _points(people: list[City], n_points: int) -> list[City]:
    """The largest cities, skipping any within POINT_SPACING_KM of a larger one chosen."""
    points: list[City] = []
    for c in people:
        if len(points) == n_points:
            break
        if all(great_circle_km(c.lat, c.lon, p.lat, p.lon) >= POINT_SPACING_KM for p in points):
            points.append(c)
    return points


def demand(market: Callable[[City], bool], n_points: int) -> list[DemandPoint]:
    """The market's `n_points` largest cities, each weighing the people nearest to it (millions)."""
    people = [c for c in cities() if market(c)]
    points = _points(people, n_points)
    lat = np.array([c.lat for c in people])
    lon = np.array([c.lon for c in people])
    km = great_circle_km(
        lat[:, None],
        lon[:, None],
        np.array([p.lat for p in points])[None, :],
        np.array([p.lon for p in points])[None, :],
    )
    nearest = km.argmin(axis=1)
    weight = np.bincount(nearest, weights=[c.population for c in people], minlength=len(points))
    return [
        DemandPoint(name=c.name, lat=c.lat, lon=c.lon, weight=round(float(w) / 1e6, 3))
        for c, w in zip(points, weight, strict=True)
    ]


def sample_deployment(sample: Sample) -> ModelDeployment:
    return ModelDeployment(
        metadata=ObjectMeta(
            name=sample.name,
            labels={SAMPLE_LABEL: "true"},
            annotations={TOKENS_PER_SECOND_ANNOTATION: f"{sample.tokens_per_s:g}"},
        ),
        spec=ModelDeploymentSpec(
            model=ModelRef(name=sample.model, runtime="vllm"),
            replicas=sample.replicas,
            resources=ReplicaResources(
                gpus=sample.gpus,
                gpu_model=sample.gpu_model,
                gpu_memory_gb=sample.gpu_memory_gb,
                power_kw=round(sample.power_kw, 3),
            ),
            demand=demand(sample.market, sample.demand_points),
            latency_slo_ms=sample.latency_slo_ms,
            placement=PlacementConstraints(
                tiers=list(sample.tiers),
                countries=list(sample.countries),
                privacy=sample.privacy,
                min_sites=sample.min_sites,
            ),
        ),
    )


def sample_deployments() -> list[ModelDeployment]:
    return [sample_deployment(s) for s in SAMPLES]


def demand_share_now(lon: float, when_s: float) -> float:
    """DAILY_SHAPE at the local mean solar time of longitude `lon`, linear between hours."""
    hour = ((when_s / 3600.0) + lon / 15.0) % 24.0
    before = int(hour)
    frac = hour - before
    return DAILY_SHAPE[before] * (1 - frac) + DAILY_SHAPE[(before + 1) % 24] * frac

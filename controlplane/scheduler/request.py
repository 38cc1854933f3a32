"""PlacementRequest: what the scheduler needs to know about a deployment, as a plain dataclass.

The scheduler's core runs thousands of times a second and inside Ray actors, so
it works on frozen dataclasses of plain values rather than on the pydantic
resource models; `request_from_deployment` is the one place where a
`ModelDeployment` (the API boundary) becomes a `PlacementRequest`. Fields can be
added here without breaking callers, since every filter and score reads the
request through the placement context.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.resources import EnergyPolicy, ModelDeployment


@dataclass(frozen=True, slots=True)
class Demand:
    """Where a share of a deployment's users are: a point, or a region to be located."""

    name: str
    weight: float
    lat: float | None = None
    lon: float | None = None
    region: str = ""
    tokens_per_s: float | None = None


@dataclass(frozen=True, slots=True)
class Toleration:
    """Lets a replica onto nodes with a matching taint; an empty value or effect matches any."""

    key: str
    value: str = ""
    effect: str = ""


DEFAULT_POLICY = EnergyPolicy()


@dataclass(frozen=True)
class PlacementRequest:
    """One deployment's replica shape, constraints and objective, in physical units."""

    deployment: str
    gpus: int = 0
    gpu_model: str = ""  # "" = any model with enough memory
    gpu_memory_gb: float = 0.0  # memory of each GPU the replica uses
    power_kw: float = 0.0  # IT power one replica draws
    demand: tuple[Demand, ...] = ()
    latency_slo_ms: float | None = None  # bound on each demand point's RTT to its replica
    tiers: tuple[str, ...] = ()  # () = any tier
    regions: tuple[str, ...] = ()  # () = any region
    countries: tuple[str, ...] = ()  # () = any country
    edge_only: bool = False  # privacy: edge-only
    tolerations: tuple[Toleration, ...] = ()
    min_sites: int = 1  # distinct nodes the replicas must span (failure domains)
    objective: str = DEFAULT_POLICY.objective  # carbon | price | cost
    carbon_price_usd_per_tonne: float = DEFAULT_POLICY.carbon_price_usd_per_tonne
    move_horizon_hours: float = DEFAULT_POLICY.move_horizon_hours
    move_startup_minutes: float = DEFAULT_POLICY.move_startup_minutes


def request_from_deployment(deployment: ModelDeployment) -> PlacementRequest:
    """The scheduler's view of a ModelDeployment's spec."""
    spec = deployment.spec
    res, where, policy = spec.resources, spec.placement, spec.energy_policy
    return PlacementRequest(
        deployment=deployment.name,
        gpus=res.gpus,
        gpu_model=res.gpu_model,
        gpu_memory_gb=res.gpu_memory_gb,
        power_kw=res.power_kw,
        demand=tuple(
            Demand(
                name=d.name or d.region or f"{d.lat},{d.lon}",
                weight=d.weight,
                lat=d.lat,
                lon=d.lon,
                region=d.region,
                tokens_per_s=d.tokens_per_s,
            )
            for d in spec.demand
        ),
        latency_slo_ms=spec.latency_slo_ms,
        tiers=tuple(where.tiers),
        regions=tuple(where.regions),
        countries=tuple(where.countries),
        edge_only=where.privacy == "edge-only",
        tolerations=tuple(Toleration(t.key, t.value, t.effect) for t in where.tolerations),
        min_sites=where.min_sites,
        objective=policy.objective,
        carbon_price_usd_per_tonne=policy.carbon_price_usd_per_tonne,
        move_horizon_hours=policy.move_horizon_hours,
        move_startup_minutes=policy.move_startup_minutes,
    )

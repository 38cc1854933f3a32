"""ModelDeployment: what a user wants served, how much, for whom and under which limits."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from controlplane.resources.meta import Condition, Manifest, Model
from controlplane.resources.node import TaintEffect, Tier


class ModelRef(Model):
    name: str = Field(min_length=1)
    version: str = ""
    artifact_uri: str = ""
    runtime: str = "vllm"


class ReplicaResources(Model):
    gpus: int = Field(default=1, ge=0)
    gpu_model: str = ""
    gpu_memory_gb: float = Field(default=0, ge=0)
    power_kw: float = Field(default=0, ge=0)


class DemandPoint(Model):
    """Where users are: a point (lat, lon) or a region, weighted by share of requests."""

    name: str = ""
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    region: str = ""
    weight: float = Field(default=1.0, gt=0)
    tokens_per_s: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _point_or_region(self) -> Self:
        has_point = self.lat is not None and self.lon is not None
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if not has_point and not self.region:
            raise ValueError("give a point (lat and lon) or a region")
        return self


class Toleration(Model):
    key: str = Field(min_length=1)
    value: str = ""
    effect: TaintEffect | Literal[""] = ""


class PlacementConstraints(Model):
    tiers: list[Tier] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    privacy: Literal["", "edge-only"] = ""
    tolerations: list[Toleration] = Field(default_factory=list)
    min_sites: int = Field(default=1, ge=1)


class EnergyPolicy(Model):
    """What "least energy cost" means, in physical units (see scheduler/README.md).

    Placement serves every demand point it can within the SLO first, then
    minimises this cost, then the demand-weighted RTT; there are no weights to tune.
    """

    objective: Literal["carbon", "price", "cost"] = "carbon"
    carbon_price_usd_per_tonne: float = Field(default=100.0, ge=0)
    move_horizon_hours: float = Field(default=4.0, gt=0)
    move_startup_minutes: float = Field(default=10.0, ge=0)


class ModelDeploymentSpec(Model):
    model: ModelRef
    replicas: int = Field(default=1, ge=0, le=10_000)
    resources: ReplicaResources = Field(default_factory=ReplicaResources)
    demand: list[DemandPoint] = Field(default_factory=list)
    latency_slo_ms: float | None = Field(default=None, gt=0)
    placement: PlacementConstraints = Field(default_factory=PlacementConstraints)
    energy_policy: EnergyPolicy = Field(default_factory=EnergyPolicy)


class PlacementExplanation(Model):
    node: str = ""
    rtt_ms: float = 0
    carbon_g_per_kwh: float = 0
    renewable_share: float = 0
    headroom_kw: float = 0
    price_per_kwh: float = 0
    score: float = 0
    rejected: dict[str, int] = Field(default_factory=dict)
    feasible_nodes: int = 0
    total_nodes: int = 0
    message: str = ""
    gpu_model: str = ""
    serves: list[str] = Field(default_factory=list)
    demand_share: float = 0
    carbon_g_per_h: float = 0
    rtt_source: Literal["", "measured", "estimated"] = ""


class ReplicaSummary(Model):
    name: str
    node: str = ""
    phase: str = ""
    endpoint: str = ""
    placement: PlacementExplanation | None = None


class Route(Model):
    """Which replica serves a demand point; only Running replicas carry routes."""

    demand: str
    replica: str
    node: str = ""
    share: float = Field(default=1.0, ge=0, le=1)
    rtt_ms: float = 0
    rtt_source: Literal["", "measured", "estimated"] = ""
    within_slo: bool = True


class ModelDeploymentStatus(Model):
    ready_replicas: int = 0
    desired_replicas: int = 0
    observed_generation: int = 0
    replicas: list[ReplicaSummary] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    attainment: float | None = None


class ModelDeployment(Manifest):
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = None

"""Node: one schedulable machine or site (an edge box, a token factory, a cloud region)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from controlplane.resources.limits import MAX_GPU_COUNT, MAX_GPU_MODELS_PER_NODE
from controlplane.resources.meta import Condition, Manifest, Model

Tier = Literal["edge", "factory", "cloud"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
ContractType = Literal["ppa", "certificate"]
CarbonSignal = Literal["average", "marginal"]
CarbonScope = Literal["direct", "lifecycle"]
CarbonProvenance = Literal["measured", "forecast", "modelled", "declared"]
CARBON_KINDS = {"signal": CarbonSignal, "scope": CarbonScope, "provenance": CarbonProvenance}


class Location(Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    region: str = ""
    country: str = Field(default="", pattern=r"^([A-Z]{2})?$")
    city: str = ""


class GpuCapacity(Model):
    model: str = Field(min_length=1)
    memory_gb: float = Field(gt=0)
    count: int = Field(ge=0, le=MAX_GPU_COUNT)


class Capacity(Model):
    gpus: list[GpuCapacity] = Field(default_factory=list, max_length=MAX_GPU_MODELS_PER_NODE)
    cpu_cores: float = Field(default=0, ge=0)
    memory_gb: float = Field(default=0, ge=0)


class PowerSpec(Model):
    budget_kw: float = Field(gt=0)
    pue: float | None = Field(default=None, ge=1.0)


class Taint(Model):
    key: str = Field(min_length=1)
    value: str = ""
    effect: TaintEffect


class EnergyContract(Model):
    """A PPA or certificates a site holds (GHG Protocol Scope 2, market-based; docs/energy.md)."""

    name: str = ""
    type: ContractType
    mwh: float = Field(gt=0)
    start: datetime  # the hours it covers: start inclusive, end exclusive
    end: datetime
    zone: str = Field(min_length=1)  # where the energy was generated: counts only in that zone
    carbon_g_per_kwh: float = Field(default=0, ge=0)  # the contracted generation's factor

    @model_validator(mode="after")
    def _hours(self) -> EnergyContract:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, e.g. 2023-01-01T00:00:00Z")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class NodeSpec(Model):
    tier: Tier
    location: Location
    capacity: Capacity = Field(default_factory=Capacity)
    power: PowerSpec
    taints: list[Taint] = Field(default_factory=list)
    unschedulable: bool = False
    contracts: list[EnergyContract] = Field(default_factory=list)
    residual_mix_g_per_kwh: float | None = Field(default=None, ge=0)


class CarbonBasis(Model):
    """What a carbon figure is: figures of different kinds are never added (docs/energy.md)."""

    signal: CarbonSignal = "average"
    scope: CarbonScope = "lifecycle"
    provenance: CarbonProvenance = "declared"
    zone: str = ""
    time: str = ""
    stale: bool = False
    age_seconds: float = 0
    provider: str = ""

    def label(self) -> str:
        """E.g. "average/lifecycle/measured" or "marginal/direct/forecast,stale"."""
        label = f"{self.signal}/{self.scope}/{self.provenance}"
        return label + ",stale" if self.stale else label


class ForecastPoint(Model):
    """One forecast hour: its offset from now and the expected carbon and price."""

    hour_offset: int = Field(default=0, ge=0)
    carbon_g_per_kwh: float = 0
    price_per_kwh: float = 0


class EnergyStatus(Model):
    it_draw_kw: float = 0
    budget_kw: float = 0
    renewable_kw: float = 0
    carbon_g_per_kwh: float = 0
    price_per_kwh: float = 0
    source: str = ""
    forecast: list[ForecastPoint] = Field(default_factory=list)  # docs/forecast.md
    forecast_source: str = ""  # feed | seasonal-naive | "" (none yet)
    carbon_basis: CarbonBasis | None = None
    gpu_power_kw: float | None = None  # NVML's measured board power; None: no meter
    curtail_to_kw: float | None = None  # the feed's demand-response signal; None: none


class GpuStatus(Model):
    model: str
    memory_gb: float = 0
    total: int = 0
    free: int = 0


class NodeRtt(Model):
    """A measured round trip from the node to a landmark (a region of the server's table)."""

    target: str
    rtt_ms: float = 0
    method: str = ""  # tcp-connect (its agent's probes) | matrix (the operator's) | simulated


class NodeStatus(Model):
    conditions: list[Condition] = Field(default_factory=list)
    last_heartbeat_time: str = ""
    energy: EnergyStatus | None = None
    gpus: list[GpuStatus] = Field(default_factory=list)
    replicas: list[str] = Field(default_factory=list)
    agent_version: str = ""
    rtt: list[NodeRtt] = Field(default_factory=list)


class Node(Manifest):
    kind: Literal["Node"] = "Node"
    spec: NodeSpec
    status: NodeStatus | None = None

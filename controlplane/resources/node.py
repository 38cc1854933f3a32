"""Node: one schedulable machine or site (an edge box, a token factory, a cloud region)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controlplane.resources.meta import Condition, Manifest, Model

Tier = Literal["edge", "factory", "cloud"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Location(Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    region: str = ""
    country: str = Field(default="", pattern=r"^([A-Z]{2})?$")
    city: str = ""


class GpuCapacity(Model):
    model: str = Field(min_length=1)
    memory_gb: float = Field(gt=0)
    count: int = Field(ge=0)


class Capacity(Model):
    gpus: list[GpuCapacity] = Field(default_factory=list)
    cpu_cores: float = Field(default=0, ge=0)
    memory_gb: float = Field(default=0, ge=0)


class PowerSpec(Model):
    budget_kw: float = Field(gt=0)
    pue: float | None = Field(default=None, ge=1.0)


class Taint(Model):
    key: str = Field(min_length=1)
    value: str = ""
    effect: TaintEffect


class NodeSpec(Model):
    tier: Tier
    location: Location
    capacity: Capacity = Field(default_factory=Capacity)
    power: PowerSpec
    taints: list[Taint] = Field(default_factory=list)
    unschedulable: bool = False


class EnergyStatus(Model):
    it_draw_kw: float = 0
    budget_kw: float = 0
    renewable_kw: float = 0
    carbon_g_per_kwh: float = 0
    price_per_kwh: float = 0
    source: str = ""


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

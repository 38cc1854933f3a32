"""Replica: one placed copy of a ModelDeployment, bound to one node (like a Pod)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from controlplane.resources.deployment import ModelRef, PlacementExplanation, ReplicaResources
from controlplane.resources.meta import Manifest, Model
from controlplane.resources.wellknown import ReplicaPhase


class ReplicaSpec(Model):
    deployment: str = Field(min_length=1)
    node_name: str = ""
    model: ModelRef
    resources: ReplicaResources = Field(default_factory=ReplicaResources)


class ReplicaStatus(Model):
    phase: ReplicaPhase = ReplicaPhase.PENDING
    endpoint: str = ""
    message: str = ""
    placement: PlacementExplanation | None = None
    start_time: str = ""


class Replica(Manifest):
    kind: Literal["Replica"] = "Replica"
    spec: ReplicaSpec
    status: ReplicaStatus = Field(default_factory=ReplicaStatus)


@dataclass(frozen=True, slots=True)
class ReplicaReport:
    """What a node's agent says of one replica it runs: plain data, not the wire message."""

    name: str
    phase: ReplicaPhase
    message: str = ""
    endpoint: str = ""

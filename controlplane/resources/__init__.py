"""The resource model shared by the control plane, the agents and tpctl.

Kubernetes-shaped manifests (apiVersion, kind, metadata, spec, status) as
pydantic models; their YAML names are the camelCase of the Python names, which
are also the proto3 JSON names of the wire messages, so one codec serves both.
"""

from controlplane.resources.curtailment import (
    Curtailment,
    CurtailmentSpec,
    CurtailmentStatus,
)
from controlplane.resources.deployment import (
    DemandPoint,
    EnergyPolicy,
    ModelDeployment,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelRef,
    PlacementConstraints,
    PlacementExplanation,
    ReplicaResources,
    ReplicaSummary,
    Route,
)
from controlplane.resources.event import Event, ObjectReference
from controlplane.resources.manifest import (
    KINDS,
    ManifestError,
    Resource,
    dump_yaml,
    load_manifests,
    parse_manifest,
)
from controlplane.resources.meta import API_VERSION, Condition, ObjectMeta
from controlplane.resources.node import (
    Capacity,
    EnergyStatus,
    GpuCapacity,
    GpuStatus,
    Location,
    Node,
    NodeSpec,
    NodeStatus,
    PowerSpec,
    Taint,
)
from controlplane.resources.replica import (
    Replica,
    ReplicaPhase,
    ReplicaReport,
    ReplicaSpec,
    ReplicaStatus,
)

__all__ = [
    "API_VERSION",
    "KINDS",
    "Capacity",
    "Condition",
    "Curtailment",
    "CurtailmentSpec",
    "CurtailmentStatus",
    "DemandPoint",
    "EnergyPolicy",
    "EnergyStatus",
    "Event",
    "GpuCapacity",
    "GpuStatus",
    "Location",
    "ManifestError",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ModelRef",
    "Node",
    "NodeSpec",
    "NodeStatus",
    "ObjectMeta",
    "ObjectReference",
    "PlacementConstraints",
    "PlacementExplanation",
    "PowerSpec",
    "Replica",
    "ReplicaPhase",
    "ReplicaReport",
    "ReplicaResources",
    "ReplicaSpec",
    "ReplicaStatus",
    "ReplicaSummary",
    "Resource",
    "Route",
    "Taint",
    "dump_yaml",
    "load_manifests",
    "parse_manifest",
]

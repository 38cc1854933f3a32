"""Placement: where each replica of a model deployment should run, and why.

A pipeline of small named steps over the inventory's columnar snapshot:
filters (hard constraints), scores (soft preferences in physical units),
normalise, choose, bind, explain. `place` decides new replicas, `replan` moves
running ones when energy or the fleet changes, and `actor` runs both as Ray
actors. See README.md in this directory for the picture and the vocabulary.
Importing this package does not import Ray.
"""

from controlplane.scheduler.actor import (
    RemoteScheduler,
    SchedulerActor,
    ShardedScheduler,
    connect_ray,
    start_scheduler,
)
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import (
    Better,
    Filter,
    FleetState,
    PlacementContext,
    Registry,
    Score,
)
from controlplane.scheduler.geo import UnknownRegionError
from controlplane.scheduler.pipeline import (
    DEFAULT_CHAIN,
    Chain,
    Placement,
    Unschedulable,
    availability_message,
    build_chain,
    default_registry,
    place,
)
from controlplane.scheduler.replan import (
    DeploymentReplicas,
    Move,
    RunningReplica,
    replan,
    scale_down,
)
from controlplane.scheduler.request import (
    Demand,
    PlacementRequest,
    Toleration,
    request_from_deployment,
)
from controlplane.scheduler.sharding import choose_regions

__all__ = [
    "DEFAULT_CHAIN",
    "Better",
    "Chain",
    "Demand",
    "DeploymentReplicas",
    "Filter",
    "FleetIndex",
    "FleetState",
    "Move",
    "Placement",
    "PlacementContext",
    "PlacementRequest",
    "Registry",
    "RemoteScheduler",
    "RunningReplica",
    "SchedulerActor",
    "Score",
    "ShardedScheduler",
    "Toleration",
    "UnknownRegionError",
    "Unschedulable",
    "availability_message",
    "build_chain",
    "choose_regions",
    "connect_ray",
    "default_registry",
    "place",
    "replan",
    "request_from_deployment",
    "scale_down",
    "start_scheduler",
]

"""Placement: where each replica of a model deployment should run, and why.

A pipeline of small named steps over the inventory's columnar snapshot:
filters (hard constraints), then facility location over the feasible nodes
(every user within the SLO, then least energy cost, then least RTT), bind,
explain. `place` decides new replicas, `replan` moves running ones when energy
or the fleet changes, `routes` says which replica serves which users, and
`actor` runs placement in a Ray actor. See README.md in this directory for the
picture and the vocabulary. Importing this package does not import Ray.
"""

from controlplane.scheduler.actor import SchedulerActor, connect_ray, start_scheduler
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import Filter, FleetState, PlacementContext, Registry
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

__all__ = [
    "DEFAULT_CHAIN",
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
    "RunningReplica",
    "SchedulerActor",
    "Toleration",
    "UnknownRegionError",
    "Unschedulable",
    "availability_message",
    "build_chain",
    "connect_ray",
    "default_registry",
    "place",
    "replan",
    "request_from_deployment",
    "scale_down",
    "start_scheduler",
]

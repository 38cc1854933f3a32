"""Where placement runs: inline in the server's process, or in a Ray actor.

Both take whole snapshots and batches of work, never one heartbeat or one
replica at a time, so the Ray round trip (about 1 ms here) is paid once per
reconcile pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.scheduler.pipeline import Placement, Unschedulable, place
from controlplane.scheduler.replan import DeploymentReplicas, Move, replan, scale_down
from controlplane.scheduler.request import PlacementRequest


@dataclass(frozen=True)
class PlaceJob:
    request: PlacementRequest
    n_replicas: int
    existing: tuple[str, ...]  # nodes of the deployment's live replicas, for spread


def place_all(
    snapshot: FleetSnapshot, jobs: Sequence[PlaceJob]
) -> list[list[Placement] | Unschedulable]:
    """Places every job on one snapshot, each seeing the capacity the ones before it took."""
    from controlplane.scheduler.fleetindex import FleetIndex
    from controlplane.scheduler.framework import FleetState

    index = FleetIndex(snapshot)
    fleet = FleetState.from_snapshot(snapshot)
    return [
        place(
            snapshot, job.request, job.n_replicas, existing=job.existing, index=index, fleet=fleet
        )
        for job in jobs
    ]


class Placer(Protocol):
    async def place(
        self, snapshot: FleetSnapshot, jobs: Sequence[PlaceJob]
    ) -> list[list[Placement] | Unschedulable]: ...

    async def replan(
        self, snapshot: FleetSnapshot, deployments: Sequence[DeploymentReplicas], max_moves: int
    ) -> list[Move]: ...

    async def scale_down(
        self, snapshot: FleetSnapshot, deployment: DeploymentReplicas, n: int
    ) -> list[str]: ...

    async def close(self) -> None: ...


class InlinePlacer:
    """Runs the pure scheduler in this process: for tests and small fleets."""

    async def place(
        self, snapshot: FleetSnapshot, jobs: Sequence[PlaceJob]
    ) -> list[list[Placement] | Unschedulable]:
        return place_all(snapshot, jobs)

    async def replan(
        self, snapshot: FleetSnapshot, deployments: Sequence[DeploymentReplicas], max_moves: int
    ) -> list[Move]:
        return replan(snapshot, deployments, max_moves=max_moves)

    async def scale_down(
        self, snapshot: FleetSnapshot, deployment: DeploymentReplicas, n: int
    ) -> list[str]:
        return scale_down(snapshot, deployment, n)

    async def close(self) -> None:
        return None

"""Placement in a Ray actor: local Ray by default, a cluster with --ray-address.

The snapshot goes to the actor once per pass through Ray's object store; the
placement calls of that pass then carry only requests, and the actor counts
what each call bound, so calls in one pass see each other's replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.reconciler.placer import PlaceJob
from controlplane.scheduler.actor import connect_ray, start_scheduler
from controlplane.scheduler.pipeline import Placement, Unschedulable
from controlplane.scheduler.replan import DeploymentReplicas, Move


class RayPlacer:
    def __init__(self, actor: Any) -> None:
        self._actor = actor

    @classmethod
    async def start(cls, address: str | None) -> RayPlacer:
        """Connects to (or starts) Ray off the event loop: `ray.init` takes seconds."""
        await asyncio.to_thread(connect_ray, address)
        actor = start_scheduler(num_cpus=0.5, name=None)
        await actor.__ray_ready__.remote()
        return cls(actor)

    async def _send(self, snapshot: FleetSnapshot) -> None:
        import ray

        await self._actor.set_snapshot.remote(ray.put(snapshot))

    async def place(
        self, snapshot: FleetSnapshot, jobs: Sequence[PlaceJob]
    ) -> list[list[Placement] | Unschedulable]:
        await self._send(snapshot)
        return [
            await self._actor.place.remote(job.request, job.n_replicas, job.existing)
            for job in jobs
        ]

    async def replan(
        self, snapshot: FleetSnapshot, deployments: Sequence[DeploymentReplicas], max_moves: int
    ) -> list[Move]:
        await self._send(snapshot)
        moves: list[Move] = await self._actor.replan.remote(list(deployments), max_moves)
        return moves

    async def scale_down(
        self, snapshot: FleetSnapshot, deployment: DeploymentReplicas, n: int
    ) -> list[str]:
        await self._send(snapshot)
        names: list[str] = await self._actor.scale_down.remote(deployment, n)
        return names

    async def close(self) -> None:
        import ray

        ray.kill(self._actor)
        await asyncio.to_thread(ray.shutdown)

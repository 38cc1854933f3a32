"""The scheduler in real (local) Ray, through the server's own client (RayPlacer): snapshots
by object reference, the actor deciding exactly as the pure pipeline does in process."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.reconciler.placer import InlinePlacer, PlaceJob
from controlplane.reconciler.ray_placer import RayPlacer
from controlplane.scheduler import (
    DeploymentReplicas,
    PlacementRequest,
    RunningReplica,
    start_scheduler,
)
from controlplane.scheduler.request import Demand
from tests.scheduler.fleets import random_fleet, snapshot_of

pytestmark = pytest.mark.usefixtures("ray_session")

REQUEST = PlacementRequest(
    "chat",
    gpus=1,
    gpu_model="H100",
    power_kw=2,
    demand=(Demand("fra", 1.0, 50.1, 8.7),),
    latency_slo_ms=60,
)


def test_the_ray_actor_decides_as_the_inline_placer_does() -> None:
    import ray

    snap = snapshot_of(random_fleet(80, seed=7))
    # Three jobs in one call: each sees what the ones before it bound, in the actor as inline.
    jobs = [PlaceJob(REQUEST, 4, ()), PlaceJob(REQUEST, 4, ()), PlaceJob(REQUEST, 2, ("node-001",))]
    running = DeploymentReplicas(
        REQUEST, (RunningReplica("chat-0", "node-000"), RunningReplica("chat-1", "node-001"))
    )
    actor = start_scheduler(num_cpus=0.5)

    async def both() -> None:
        remote, inline = RayPlacer(actor), InlinePlacer()
        placed = await remote.place(snap, jobs)
        assert placed == await inline.place(snap, jobs)
        assert any(isinstance(r, list) and len(r) == 4 for r in placed), "something was placed"
        assert await remote.replan(snap, [running], 3) == await inline.replan(snap, [running], 3)
        assert await remote.scale_down(snap, running, 1) == await inline.scale_down(
            snap, running, 1
        )

    try:
        asyncio.run(both())
    finally:
        ray.kill(actor)

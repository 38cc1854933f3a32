"""The scheduler in real (local) Ray: snapshots by object reference, the actor as the pipeline."""

from __future__ import annotations

import pytest

from controlplane.scheduler import (
    DeploymentReplicas,
    Placement,
    PlacementRequest,
    RemoteScheduler,
    RunningReplica,
    Unschedulable,
    place,
    replan,
    scale_down,
)
from controlplane.scheduler.framework import FleetState
from controlplane.scheduler.request import Demand
from tests.scheduler.fleets import random_fleet, snapshot_of

pytestmark = pytest.mark.usefixtures("ray_session")

REQUEST = PlacementRequest("chat", gpus=1, gpu_model="H100", power_kw=2,
                           demand=(Demand("fra", 1.0, 50.1, 8.7),), latency_slo_ms=60)


def rows(result: list[Placement] | Unschedulable) -> list[int]:
    return [p.row for p in (result.placed if isinstance(result, Unschedulable) else result)]


def test_actor_places_as_the_pure_pipeline_does() -> None:
    snap = snapshot_of(random_fleet(80, seed=7))
    scheduler = RemoteScheduler(num_cpus=0.5)
    scheduler.set_snapshot(snap)
    fleet = FleetState.from_snapshot(snap)
    for _ in range(3):  # the actor keeps what it bound until the next snapshot, as `fleet` does
        remote = scheduler.place(REQUEST, 4, seed=11)
        local = place(snap, REQUEST, 4, seed=11, fleet=fleet)
        assert rows(remote) == rows(local)
        assert remote == local
    scheduler.set_snapshot(snap)  # a new snapshot forgets the assumed binds
    assert rows(scheduler.place(REQUEST, 4, seed=11)) == rows(place(snap, REQUEST, 4, seed=11))
    running = DeploymentReplicas(REQUEST, (RunningReplica("chat-0", "node-000"),
                                           RunningReplica("chat-1", "node-001")))
    assert scheduler.replan([running], max_moves=3) == replan(snap, [running], max_moves=3)
    assert scheduler.scale_down(running, 1) == scale_down(snap, running, 1)

"""The scheduler as a Ray actor over the whole fleet.

The pure pipeline runs inside a Ray actor so that it can live on its own core
(or machine, with `--ray-address`) and never slow the gRPC servers. The
inventory sends each new snapshot once, by object reference (`ray.put`), and
Ray hands the actor a zero-copy view of its arrays; placement calls then carry
only the request. Between snapshots the actor counts the replicas it has placed
as taking capacity (like the Kubernetes scheduler's assumed pods), so two calls
never promise the same GPUs. Ray is imported lazily: importing
`controlplane.scheduler` does not import Ray (0.7 s), only using these classes
does. The server's client is `reconciler/ray_placer.py`: it awaits the actor's
references from asyncio.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import FleetState
from controlplane.scheduler.pipeline import Placement, Unschedulable, place
from controlplane.scheduler.replan import DeploymentReplicas, Move, replan, scale_down
from controlplane.scheduler.request import PlacementRequest

if TYPE_CHECKING:
    from ray.actor import ActorHandle

DEFAULT_NUM_CPUS = 2


def connect_ray(address: str | None = None, *, num_cpus: int = DEFAULT_NUM_CPUS) -> None:
    """Start a local Ray (no dashboard, loopback only, `num_cpus` CPUs) or join `address`.

    Does nothing if Ray is already initialised in this process. A cluster started
    with Ray 2.60's default token auth needs RAY_AUTH_MODE=token in the environment.
    """
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
        )


class SchedulerActor:
    """The pipeline over the latest snapshot it was sent. Create with `start_scheduler`."""

    def __init__(self) -> None:
        self._index: FleetIndex | None = None
        self._fleet: FleetState | None = None

    def set_snapshot(
        self,
        snapshot: FleetSnapshot,
        region_coords: Mapping[str, tuple[float, float]] | None = None,
    ) -> int:
        """Place against `snapshot` from now on (pass an ObjectRef); returns its revision."""
        self._index = FleetIndex(snapshot, region_coords=region_coords)
        self._fleet = FleetState.from_snapshot(snapshot)
        return snapshot.revision

    def _current(self) -> tuple[FleetIndex, FleetState]:
        if self._index is None or self._fleet is None:
            raise RuntimeError("no snapshot yet: call set_snapshot first")
        return self._index, self._fleet

    def place(
        self,
        request: PlacementRequest,
        n_replicas: int,
        existing: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[Placement] | Unschedulable:
        index, fleet = self._current()
        return place(
            index.snapshot,
            request,
            n_replicas,
            existing=existing,
            seed=seed,
            index=index,
            fleet=fleet,
        )

    def replan(
        self, deployments: Sequence[DeploymentReplicas], max_moves: int = 10, seed: int = 0
    ) -> list[Move]:
        index, _ = self._current()
        return replan(index.snapshot, deployments, max_moves=max_moves, seed=seed, index=index)

    def scale_down(self, deployment: DeploymentReplicas, n: int) -> list[str]:
        index, _ = self._current()
        return scale_down(index.snapshot, deployment, n, index=index)


def start_scheduler(
    *, num_cpus: float = 1.0, name: str | None = None
) -> ActorHandle[SchedulerActor]:
    """Create a SchedulerActor in the connected Ray (see `connect_ray`)."""
    import ray

    options: dict[str, Any] = {"num_cpus": num_cpus}
    if name:
        options["name"] = name
    handle = ray.remote(SchedulerActor).options(**options).remote()
    return cast("ActorHandle[SchedulerActor]", handle)

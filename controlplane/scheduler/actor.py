"""The scheduler as Ray actors: one over the whole fleet, or several sharded by region.

The pure pipeline runs inside a Ray actor so that it can live on its own core
(or machine, with `--ray-address`) and never slow the gRPC servers. The
inventory sends each new snapshot once, by object reference (`ray.put`), and
Ray hands the actor a zero-copy view of its arrays; placement calls then carry
only the request. Between snapshots the actor counts the replicas it has placed
as taking capacity (like the Kubernetes scheduler's assumed pods), so two calls
never promise the same GPUs. Ray is imported lazily: importing
`controlplane.scheduler` does not import Ray (0.7 s), only using these classes
does. From asyncio code, call an actor handle's methods and `await` the
references; the client classes here block and belong in a worker thread.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import FleetState
from controlplane.scheduler.pipeline import (
    Placement,
    Unschedulable,
    bind,
    build_context,
    place,
)
from controlplane.scheduler.replan import DeploymentReplicas, Move, replan, scale_down
from controlplane.scheduler.request import PlacementRequest
from controlplane.scheduler.sharding import balance_regions, choose_regions, take_rows

if TYPE_CHECKING:
    from ray import ObjectRef
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
        measured_rtt_ms: Mapping[tuple[str, str], float] | None = None,
    ) -> int:
        """Score against `snapshot` from now on (pass an ObjectRef); returns its revision."""
        self._index = FleetIndex(
            snapshot, region_coords=region_coords, measured_rtt_ms=measured_rtt_ms
        )
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


class RemoteScheduler:
    """A blocking client for one SchedulerActor: the fleet in one shard."""

    def __init__(self, *, num_cpus: float = 1.0) -> None:
        self.actor = start_scheduler(num_cpus=num_cpus)

    def set_snapshot(
        self,
        snapshot: FleetSnapshot,
        region_coords: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        import ray

        ray.get(self.actor.set_snapshot.remote(ray.put(snapshot), region_coords))

    def place(
        self,
        request: PlacementRequest,
        n_replicas: int,
        *,
        existing: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[Placement] | Unschedulable:
        import ray

        result: list[Placement] | Unschedulable = ray.get(
            self.actor.place.remote(request, n_replicas, existing, seed)
        )
        return result

    def replan(
        self, deployments: Sequence[DeploymentReplicas], *, max_moves: int = 10, seed: int = 0
    ) -> list[Move]:
        import ray

        moves: list[Move] = ray.get(self.actor.replan.remote(deployments, max_moves, seed))
        return moves

    def scale_down(self, deployment: DeploymentReplicas, n: int) -> list[str]:
        import ray

        names: list[str] = ray.get(self.actor.scale_down.remote(deployment, n))
        return names


class ShardedScheduler:
    """Several SchedulerActors, each over some regions; a top-level step chooses regions first.

    Placements carry rows of the whole snapshot; their explanations count the
    nodes of the shard that placed them. Re-planning and scaling down run over
    the whole snapshot, in this process.
    """

    def __init__(self, n_shards: int, *, num_cpus: float = 1.0) -> None:
        self._actors = [start_scheduler(num_cpus=num_cpus) for _ in range(n_shards)]
        self._index: FleetIndex | None = None
        self._fleet: FleetState | None = None
        self._shard_rows: list[npt.NDArray[np.intp]] = []
        self._shard_of: dict[str, int] = {}

    def set_snapshot(
        self,
        snapshot: FleetSnapshot,
        region_coords: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        import ray

        self._index = FleetIndex(snapshot, region_coords=region_coords)
        self._fleet = FleetState.from_snapshot(snapshot)
        groups = balance_regions(snapshot, len(self._actors))
        self._shard_rows, self._shard_of = [], {}
        pending: list[ObjectRef[int]] = []
        for k, regions in enumerate(groups):
            rows = np.flatnonzero(np.isin(snapshot.region, regions))
            self._shard_rows.append(rows)
            self._shard_of.update(dict.fromkeys(regions, k))
            ref = ray.put(take_rows(snapshot, rows))
            pending.append(self._actors[k].set_snapshot.remote(ref, self._index.region_coords))
        ray.get(pending)

    def _current(self) -> tuple[FleetIndex, FleetState]:
        if self._index is None or self._fleet is None:
            raise RuntimeError("no snapshot yet: call set_snapshot first")
        return self._index, self._fleet

    def place(
        self,
        request: PlacementRequest,
        n_replicas: int,
        *,
        existing: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[Placement] | Unschedulable:
        import ray

        index, fleet = self._current()
        snapshot = index.snapshot
        placed: list[Placement] = []
        exhausted: set[str] = set()
        for _ in range(len(index.region_names) + 1):
            missing = n_replicas - len(placed)
            if missing == 0:
                break
            taken = [*existing, *(p.node for p in placed)]
            alloc = choose_regions(
                snapshot,
                request,
                missing,
                existing=taken,
                index=index,
                fleet=fleet,
                exclude=exhausted,
            )
            if not alloc:
                break
            by_shard: dict[int, list[str]] = {}
            for region in alloc:
                by_shard.setdefault(self._shard_of[region], []).append(region)
            calls = {
                k: self._actors[k].place.remote(
                    dataclasses.replace(request, regions=tuple(regions)),
                    sum(alloc[r] for r in regions),
                    taken,
                    seed,
                )
                for k, regions in by_shard.items()
            }
            results: list[list[Placement] | Unschedulable] = ray.get(list(calls.values()))
            for k, result in zip(calls, results, strict=True):
                if isinstance(result, Unschedulable):
                    exhausted.update(by_shard[k])
                    shard_placed = list(result.placed)
                else:
                    shard_placed = result
                placed += self._to_fleet_rows(k, shard_placed, request, len(placed))
        if len(placed) == n_replicas:
            return placed
        return self._explain_missing(request, placed, n_replicas, existing, seed)

    def _to_fleet_rows(
        self,
        shard: int,
        placements: Sequence[Placement],
        request: PlacementRequest,
        first: int,
    ) -> list[Placement]:
        """Placements renumbered and moved to whole-fleet rows, bound in the assumed capacity."""
        index, fleet = self._current()
        ctx = build_context(index, request, 0, fleet=fleet)
        out = []
        for i, p in enumerate(placements):
            row = int(self._shard_rows[shard][p.row])
            bind(ctx, row)
            out.append(
                Placement(replica=first + i, row=row, node=p.node, explanation=p.explanation)
            )
        return out

    def _explain_missing(
        self,
        request: PlacementRequest,
        placed: list[Placement],
        n_replicas: int,
        existing: Sequence[str],
        seed: int | None,
    ) -> Unschedulable:
        """Why the rest did not fit, counted over the whole fleet as it now stands."""
        index, fleet = self._current()
        probe = place(
            index.snapshot,
            request,
            1,
            existing=[*existing, *(p.node for p in placed)],
            seed=seed,
            index=index,
            fleet=fleet.copy(),
        )
        if isinstance(probe, Unschedulable):
            return Unschedulable(tuple(placed), n_replicas - len(placed), probe.explanation)
        explanation = probe[0].explanation.model_copy(
            update={
                "message": f"{len(placed)}/{n_replicas} replicas placed: the shards found no room "
                "for the rest (capacity split across nodes)",
            }
        )
        return Unschedulable(tuple(placed), n_replicas - len(placed), explanation)

    def replan(
        self, deployments: Sequence[DeploymentReplicas], *, max_moves: int = 10, seed: int = 0
    ) -> list[Move]:
        index, _ = self._current()
        return replan(index.snapshot, deployments, max_moves=max_moves, seed=seed, index=index)

    def scale_down(self, deployment: DeploymentReplicas, n: int) -> list[str]:
        index, _ = self._current()
        return scale_down(index.snapshot, deployment, n, index=index)

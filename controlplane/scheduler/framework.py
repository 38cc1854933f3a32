"""The scheduler's extension points: the filter Protocol, the context it reads, a registry.

In the manner of the Kubernetes scheduling framework: a `Filter` says which
nodes may take a replica (a hard constraint, with a reason constant that
`tpctl describe` prints). Filters are pure functions of a `PlacementContext`:
the snapshot, the request, and the capacity this call has bound so far.
Filters say whether they depend on that bound capacity (`per_replica`), so
re-planning, which binds and unbinds as it goes, recomputes only those. What
the feasible nodes are then worth is not a weighted score but a lexicographic
objective in physical units (see `facility.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import BoolArray, FleetSnapshot, FloatArray, IntArray
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.request import PlacementRequest


@dataclass(slots=True)
class FleetState:
    """Capacity as one caller knows it: the snapshot's, minus the replicas it has bound since.

    Local copies, so that binding never writes to the (shared, immutable)
    snapshot and the next replica sees the last one's GPUs and power as taken.
    """

    gpus_free: IntArray  # (N, G)
    it_draw_kw: FloatArray  # (N,)
    headroom_kw: FloatArray  # (N,) budget_kw - it_draw_kw

    @classmethod
    def from_snapshot(cls, snapshot: FleetSnapshot) -> FleetState:
        return cls(
            gpus_free=np.array(snapshot.gpus_free, dtype=np.int32, copy=True),
            it_draw_kw=np.array(snapshot.it_draw_kw, dtype=np.float64, copy=True),
            headroom_kw=np.asarray(snapshot.budget_kw - snapshot.it_draw_kw, dtype=np.float64),
        )

    def copy(self) -> FleetState:
        return FleetState(self.gpus_free.copy(), self.it_draw_kw.copy(), self.headroom_kw.copy())

    def bind(self, row: int, gpu_column: int | None, gpus: int, power_kw: float) -> None:
        """Take one replica's GPUs and power on `row`."""
        if gpu_column is not None:
            self.gpus_free[row, gpu_column] -= gpus
        self.it_draw_kw[row] += power_kw
        self.headroom_kw[row] -= power_kw

    def unbind(self, row: int, gpu_column: int | None, gpus: int, power_kw: float) -> None:
        """Give one replica's GPUs and power back on `row` (the inverse of `bind`)."""
        self.bind(row, gpu_column, -gpus, -power_kw)


@dataclass
class PlacementContext:
    """Everything a filter may read, for one deployment in one call, over every node."""

    index: FleetIndex
    request: PlacementRequest
    fleet: FleetState
    gpu_columns: tuple[int, ...]  # GPU columns the request may use (all if it names no model)

    @property
    def snapshot(self) -> FleetSnapshot:
        return self.index.snapshot

    @cached_property
    def gpu_memory_ok(self) -> BoolArray:
        """(N, C) whether each usable GPU column's GPUs have the memory the request needs."""
        columns = list(self.gpu_columns)
        return np.asarray(self.snapshot.gpu_memory_gb[:, columns] >= self.request.gpu_memory_gb)

    def gpu_column_at(self, row: int) -> int | None:
        """The GPU column a replica bound on `row` takes: the first usable one that fits."""
        if self.request.gpus == 0:
            return None
        free = self.fleet.gpus_free[row, list(self.gpu_columns)]
        fits = (free >= self.request.gpus) & self.gpu_memory_ok[row]
        return self.gpu_columns[int(np.argmax(fits))] if fits.any() else None

    def replicas_that_fit(self, rows: npt.NDArray[np.intp]) -> IntArray:
        """How many more replicas each of `rows` can take: GPUs of usable columns, and kW."""
        request, fleet = self.request, self.fleet
        unbounded = np.full(len(rows), np.iinfo(np.int32).max, dtype=np.int64)
        if request.gpus > 0:
            columns = list(self.gpu_columns)
            cols = np.asarray(columns, dtype=np.intp)
            free = fleet.gpus_free[np.ix_(rows, cols)] if columns else np.zeros((len(rows), 0))
            usable = free * self.gpu_memory_ok[rows] if columns else free
            gpu_fit = (np.maximum(usable, 0) // request.gpus).sum(axis=1)
        else:
            gpu_fit = unbounded
        headroom = fleet.headroom_kw[rows]
        if request.power_kw > 0:
            with np.errstate(over="ignore"):
                ratio = np.maximum(headroom, 0.0) / request.power_kw
            power_fit = np.floor(np.minimum(ratio, unbounded)).astype(np.int64)
        else:
            power_fit = np.where(headroom >= 0, unbounded, 0)
        return np.minimum(gpu_fit, power_fit).astype(np.int32)


class Filter(Protocol):
    """A hard constraint: which nodes may take one more replica of the request.

    Contract: `__call__` returns a boolean mask over every node (True = passes)
    and does not modify the context. `reason` is the constant a rejected node is
    counted under. `per_replica` is True if the verdict can change as the call
    binds replicas (capacity), False if it depends only on the snapshot and the
    request, in which case the runner evaluates it once per call. `evicts` says
    whether a running replica must leave a node that now fails the filter (like
    Kubernetes' NoExecute) or may stay (like a cordon).
    """

    @property
    def name(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def per_replica(self) -> bool: ...
    @property
    def evicts(self) -> bool: ...

    def __call__(self, ctx: PlacementContext) -> BoolArray: ...


class Registry:
    """Filters by name, so that a chain can be assembled from configuration."""

    def __init__(self, filters: Iterable[Filter] = ()) -> None:
        self._filters: dict[str, Filter] = {}
        for f in filters:
            self.register_filter(f)

    def register_filter(self, f: Filter) -> None:
        if f.name in self._filters:
            raise ValueError(f"filter {f.name!r} is already registered")
        self._filters[f.name] = f

    def filter(self, name: str) -> Filter:
        return self._filters[name]

    @property
    def filter_names(self) -> tuple[str, ...]:
        return tuple(self._filters)

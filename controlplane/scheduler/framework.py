"""The scheduler's extension points: one Protocol per step, the context they read, a registry.

In the manner of the Kubernetes scheduling framework: a `Filter` says which
nodes may take a replica (a hard constraint, with a reason constant that
`tpctl describe` prints), a `Score` says how good each node is in physical units
(ms, g/kWh, $/kWh, shares) and whether lower or higher is better; the runner in
`pipeline.py` normalises and weighs the scores, chooses and binds. Every step is
a pure function of a `PlacementContext`: the snapshot, the request, what was
precomputed once for this deployment (the demand RTT vector), and the capacity
this call has bound so far. Filters and scores say whether they depend on that
bound capacity (`per_replica`), so the runner computes the others once per call
over the whole fleet, and then the per-replica ones only over `ctx.rows`, the
nodes that passed all the others: the work per replica shrinks with the
constraints.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import BoolArray, FleetSnapshot, FloatArray, IntArray
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.request import PlacementRequest


class Better(enum.Enum):
    """Which end of a score's physical range is preferred."""

    LOWER = "lower"
    HIGHER = "higher"


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


@dataclass(slots=True)
class SpreadState:
    """Where one deployment's replicas are: per node, per region, and how many in all."""

    node_replicas: IntArray  # (N,)
    region_replicas: IntArray  # (R,) by FleetIndex.region_code
    total_replicas: int  # existing + requested: the denominator of the spread shares

    def add(self, row: int, region: int, count: int = 1) -> None:
        self.node_replicas[row] += count
        self.region_replicas[region] += count


Rows = npt.NDArray[np.intp] | slice


@dataclass
class PlacementContext:
    """Everything a filter or score may read, for one deployment in one call.

    Filters and scores compute over `rows` only: every node (a slice), or the
    nodes that passed the call's static filters (an array of row numbers).
    Whole-fleet arrays are indexed by absolute row; `rows` selects from them.
    """

    index: FleetIndex
    request: PlacementRequest
    fleet: FleetState
    spread: SpreadState
    gpu_columns: tuple[int, ...]  # GPU columns the request may use (all if it names no model)
    rows: Rows = dataclasses.field(default_factory=lambda: slice(None))

    @property
    def snapshot(self) -> FleetSnapshot:
        return self.index.snapshot

    def narrowed(self, rows: npt.NDArray[np.intp]) -> PlacementContext:
        """The same context over `rows` only, sharing its capacity and spread state."""
        narrow = dataclasses.replace(self, rows=rows)
        narrow.__dict__.update(
            {k: v for k, v in self.__dict__.items() if k in ("rtt_ms", "gpu_memory_ok")}
        )
        return narrow

    @cached_property
    def rtt_ms(self) -> FloatArray:
        """Demand-weighted expected RTT from every node (N,), computed once per deployment."""
        return self.index.expected_rtt_ms(self.request.demand)

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


class Filter(Protocol):
    """A hard constraint: which nodes may take one more replica of the request.

    Contract: `__call__` returns a boolean mask over `ctx.rows` (True = passes)
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


class Score(Protocol):
    """A soft preference, in physical units, over all nodes.

    Contract: `__call__` returns a float array over `ctx.rows` in the unit the
    name's module documents (ms, g/kWh, ...), and does not modify the context.
    `better` says which end is preferred. `bounds` gives the range that the
    runner maps onto [0, 1]: taken once per call, over the nodes feasible for its
    first replica (`values` and `feasible` are over `ctx.rows`), so that all
    replicas of one call are weighed on one scale; most scores return
    `min_max(values, feasible)`. `per_replica` is as for filters.
    """

    @property
    def name(self) -> str: ...
    @property
    def better(self) -> Better: ...
    @property
    def per_replica(self) -> bool: ...

    def __call__(self, ctx: PlacementContext) -> FloatArray: ...

    def bounds(
        self, ctx: PlacementContext, values: FloatArray, feasible: BoolArray
    ) -> tuple[float, float]: ...


def min_max(values: FloatArray, feasible: BoolArray) -> tuple[float, float]:
    """Smallest and largest value over the feasible nodes; (0, 0) if none is feasible."""
    if not feasible.any():
        return 0.0, 0.0
    chosen = values[feasible]
    return float(chosen.min()), float(chosen.max())


def normalise(values: FloatArray, lo: float, hi: float, better: Better) -> FloatArray:
    """Map physical values onto [0, 1], 0 the best end; a constant range (hi <= lo) gives 0."""
    span = hi - lo
    if span <= 0:
        return np.zeros(values.shape)
    scaled = (values - lo) / span if better is Better.LOWER else (hi - values) / span
    return np.clip(scaled, 0.0, 1.0)


class Registry:
    """Filters and scores by name, so that a chain can be assembled from configuration."""

    def __init__(self, filters: Iterable[Filter] = (), scores: Iterable[Score] = ()) -> None:
        self._filters: dict[str, Filter] = {}
        self._scores: dict[str, Score] = {}
        for f in filters:
            self.register_filter(f)
        for s in scores:
            self.register_score(s)

    def register_filter(self, f: Filter) -> None:
        if f.name in self._filters:
            raise ValueError(f"filter {f.name!r} is already registered")
        self._filters[f.name] = f

    def register_score(self, s: Score) -> None:
        if s.name in self._scores:
            raise ValueError(f"score {s.name!r} is already registered")
        self._scores[s.name] = s

    def filter(self, name: str) -> Filter:
        return self._filters[name]

    def score(self, name: str) -> Score:
        return self._scores[name]

    @property
    def filter_names(self) -> tuple[str, ...]:
        return tuple(self._filters)

    @property
    def score_names(self) -> tuple[str, ...]:
        return tuple(self._scores)

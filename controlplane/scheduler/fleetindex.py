"""FleetIndex: lookups derived from one snapshot, built once and shared by every call on it.

Some of what the scheduler needs is a function of the snapshot alone: region
codes (sorting 10,000 region strings takes milliseconds), tainted rows grouped
by their taints, node positions as
unit vectors, region centroids, rows by node name, the measured RTTs as a
dense matrix, and each deployment's (nodes x demand points) RTT matrix.
Computing them per placement call would cost more than the placement itself,
so they live here, next to the snapshot they were computed from; a Ray actor
builds one index per snapshot it receives.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from functools import cached_property

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import FleetSnapshot, IntArray, NodeTaint
from controlplane.scheduler import geo, latency
from controlplane.scheduler.request import Demand

_RTT_CACHE_BYTES = 64 * 2**20
_MEMO_BYTES = 256 * 2**20  # per-request views: about 60 deployments of 100 points at 10k nodes


class FleetIndex:
    """Derived, read-only lookups over one FleetSnapshot.

    Demand regions are located by `region_coords`, then by the snapshot's
    landmarks, then by the centroid of the fleet's nodes in that region.
    """

    def __init__(
        self,
        snapshot: FleetSnapshot,
        *,
        region_coords: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        self.snapshot = snapshot
        names, code = np.unique(snapshot.region, return_inverse=True)
        self.region_names: tuple[str, ...] = tuple(str(r) for r in names)
        self.region_code: IntArray = code.astype(np.int32).reshape(-1)
        xyz = geo.unit_vectors(snapshot.lat, snapshot.lon)
        lat, lon = geo.region_centroids(self.region_code, len(self.region_names), xyz)
        self.node_xyz = xyz.astype(np.float32)  # see geo: fast, and good to ~0.1 km
        coords = {
            r: (float(a), float(o))
            for r, a, o in zip(self.region_names, lat, lon, strict=True)
            if r
        }
        coords.update(snapshot.landmarks)
        coords.update(region_coords or {})
        self.region_coords: Mapping[str, tuple[float, float]] = coords
        groups: dict[tuple[NodeTaint, ...], list[int]] = {}
        for row, taints in snapshot.taints.items():
            groups.setdefault(tuple(taints), []).append(row)
        self.taint_groups: Mapping[tuple[NodeTaint, ...], IntArray] = {
            taints: np.array(rows, dtype=np.intp) for taints, rows in groups.items()
        }
        self._rows: dict[str, int] | None = None
        self._rtt_cache: OrderedDict[tuple[Demand, ...], latency.RttMatrix] = OrderedDict()
        self._rtt_cache_bytes = 0
        self._rtt_seen: set[tuple[Demand, ...]] = set()
        self._memo: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._memo_bytes = 0

    def __len__(self) -> int:
        return len(self.snapshot)

    def row(self, name: str) -> int | None:
        """Row of a node in the snapshot, None if it is not there."""
        if self._rows is None:
            self._rows = {str(n): i for i, n in enumerate(self.snapshot.names)}
        return self._rows.get(name)

    def rows(self, names: Iterable[str]) -> list[int]:
        """Rows of the named nodes in the snapshot (repeats kept, unknown names dropped)."""
        found = (self.row(n) for n in names)
        return [r for r in found if r is not None]

    def region_of(self, regions: Iterable[str]) -> IntArray:
        """Codes of the named regions that the fleet has."""
        wanted = set(regions)
        return np.array([i for i, r in enumerate(self.region_names) if r in wanted], np.int32)

    @cached_property
    def measured(self) -> latency.MeasuredTable:
        """The snapshot's measured RTTs as a dense (N, landmarks) matrix, with its calibration."""
        snap = self.snapshot
        return latency.measured_table(self.node_xyz, snap.measured_rtt_ms, snap.landmarks)

    def rtt(self, demand: tuple[Demand, ...]) -> latency.RttMatrix:
        """RTT from every node to every demand point, ms (N, D); read-only and cached.

        Raises geo.UnknownRegionError if a demand region cannot be located.
        """
        cached = self._rtt_cache.get(demand)
        if cached is not None:
            self._rtt_cache.move_to_end(demand)
            return cached
        matrix = self._compute_rtt(demand, None)
        matrix.rtt_ms.flags.writeable = False
        matrix.measured.flags.writeable = False
        self._rtt_cache[demand] = matrix
        self._rtt_cache_bytes += matrix.rtt_ms.nbytes + matrix.measured.nbytes
        while self._rtt_cache_bytes > _RTT_CACHE_BYTES and len(self._rtt_cache) > 1:
            _, old = self._rtt_cache.popitem(last=False)
            self._rtt_cache_bytes -= old.rtt_ms.nbytes + old.measured.nbytes
        return matrix

    def rtt_rows(self, demand: tuple[Demand, ...], rows: npt.NDArray[np.intp]) -> latency.RttMatrix:
        """RTT from the given rows to every demand point (len(rows), D).

        A deployment seen once (a fresh placement) pays only for its candidate
        rows; from its second call on, the whole matrix is computed and cached.
        """
        if demand in self._rtt_cache or demand in self._rtt_seen:
            full = self.rtt(demand)
            return latency.RttMatrix(full.rtt_ms[rows], full.measured[rows])
        self._rtt_seen.add(demand)
        return self._compute_rtt(demand, rows)

    def _compute_rtt(
        self, demand: tuple[Demand, ...], rows: npt.NDArray[np.intp] | None
    ) -> latency.RttMatrix:
        lat, lon, _ = geo.resolve_demand(demand, self.region_coords)
        names = [d.region if d.region and d.lat is None else d.name for d in demand]
        xyz = self.node_xyz if rows is None else self.node_xyz[rows]
        table = self.measured if rows is None else self.measured.take(rows)
        return latency.rtt_matrix(xyz, names, lat, lon, table)

    def memo(self, key: Hashable) -> object | None:
        """A value a caller derived from this snapshot and stored with `remember`, or None."""
        hit = self._memo.get(key)
        if hit is None:
            return None
        self._memo.move_to_end(key)
        return hit[0]

    def remember(self, key: Hashable, value: object, nbytes: int) -> None:
        """Keep `value` for this snapshot's lifetime, least recently used first out past 256 MiB."""
        old = self._memo.pop(key, None)
        if old is not None:
            self._memo_bytes -= old[1]
        self._memo[key] = (value, nbytes)
        self._memo_bytes += nbytes
        while self._memo_bytes > _MEMO_BYTES and len(self._memo) > 1:
            _, (_, freed) = self._memo.popitem(last=False)
            self._memo_bytes -= freed

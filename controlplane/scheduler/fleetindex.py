"""FleetIndex: lookups derived from one snapshot, built once and shared by every call on it.

Some of what the scheduler needs is a function of the snapshot alone: region
codes (sorting 10,000 region strings takes milliseconds), tainted rows grouped
by their taints, node positions as
unit vectors, region centroids, rows by node name, and each deployment's
demand-weighted RTT vector. Computing them per placement call would cost more
than the placement itself, so they live here, next to the snapshot they were
computed from; a Ray actor builds one index per snapshot it receives. The
index also carries what the fleet knows beyond the snapshot: a table of region
locations and RTTs that agents have measured.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import FleetSnapshot, FloatArray, IntArray, NodeTaint
from controlplane.scheduler import geo
from controlplane.scheduler.request import Demand

_RTT_CACHE_BYTES = 64 * 2**20


class FleetIndex:
    """Derived, read-only lookups over one FleetSnapshot.

    `region_coords` gives (lat, lon) for demand regions; regions it does not name
    fall back to the centroid of the fleet's nodes in that region.
    `measured_rtt_ms` maps (node name, demand point name) to a measured RTT that
    replaces the distance estimate.
    """

    def __init__(
        self,
        snapshot: FleetSnapshot,
        *,
        region_coords: Mapping[str, tuple[float, float]] | None = None,
        measured_rtt_ms: Mapping[tuple[str, str], float] | None = None,
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
        coords.update(region_coords or {})
        self.region_coords: Mapping[str, tuple[float, float]] = coords
        groups: dict[tuple[NodeTaint, ...], list[int]] = {}
        for row, taints in snapshot.taints.items():
            groups.setdefault(tuple(taints), []).append(row)
        self.taint_groups: Mapping[tuple[NodeTaint, ...], IntArray] = {
            taints: np.array(rows, dtype=np.intp) for taints, rows in groups.items()
        }
        self._measured = dict(measured_rtt_ms or {})
        self._rows: dict[str, int] | None = None
        self._rtt_cache: OrderedDict[tuple[Demand, ...], FloatArray] = OrderedDict()
        self._rtt_cache_entries = max(8, _RTT_CACHE_BYTES // max(1, 8 * len(snapshot)))

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

    def expected_rtt_ms(self, demand: tuple[Demand, ...]) -> FloatArray:
        """Demand-weighted expected RTT from every node, ms, (N,); read-only and cached.

        Raises geo.UnknownRegionError if a demand region cannot be located.
        """
        cached = self._rtt_cache.get(demand)
        if cached is not None:
            self._rtt_cache.move_to_end(demand)
            return cached
        lat, lon, weight = geo.resolve_demand(demand, self.region_coords)
        km = geo.distance_matrix_km(self.node_xyz, geo.unit_vectors(lat, lon))
        rtt = geo.rtt_ms_from_km(km)
        if self._measured:
            self._apply_measured(rtt, demand)
        vector = geo.expected_rtt_ms(rtt, weight)
        vector.flags.writeable = False
        self._rtt_cache[demand] = vector
        if len(self._rtt_cache) > self._rtt_cache_entries:
            self._rtt_cache.popitem(last=False)
        return vector

    def _apply_measured(
        self, rtt: npt.NDArray[np.floating[Any]], demand: tuple[Demand, ...]
    ) -> None:
        column = {d.name: j for j, d in enumerate(demand)}
        for (node, point), ms in self._measured.items():
            row, col = self.row(node), column.get(point)
            if row is not None and col is not None:
                rtt[row, col] = ms

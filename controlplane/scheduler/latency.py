"""Round trips from nodes to demand points: measured where the fleet has measured, else estimated.

Agents measure RTTs to landmarks (named places with coordinates: cloud regions,
IXPs, the operator's probes) and operators may supply a matrix; both arrive in
the snapshot as `measured_rtt_ms` (row -> {landmark: ms}). A demand point is
tied to the landmark of its own name (or its region's), else to the nearest
landmark within `LANDMARK_RADIUS_KM`; a node with a measurement to that
landmark reaches the point in measured + estimated(landmark -> point) ms.

Everywhere else the RTT is estimated from distance, 2 x inflation x km / 204
km per ms, where the route inflation (2.1 by default, Bozkurt et al. 2018) is
calibrated as the median ratio measured / great-circle over the measured pairs
that are far enough apart for distance to dominate. The estimate is off by a
factor 0.6-1.4 per path (see MEASURED.md), which is why measured pairs win.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import BoolArray, FloatArray
from controlplane.scheduler import geo

LANDMARK_RADIUS_KM = 300.0
CALIBRATION_MIN_KM = 500.0  # below this, last-mile and queueing dominate the ratio
INFLATION_BOUNDS = (1.0, 4.0)

Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class RttMatrix:
    """RTT from every node to every demand point (N, D), and which entries were measured."""

    rtt_ms: Float32Array  # (N, D)
    measured: BoolArray  # (N, D)


@dataclass(frozen=True)
class MeasuredTable:
    """Measured RTTs as a dense (N, L) matrix over the landmarks that have coordinates."""

    landmarks: tuple[str, ...]  # (L,)
    landmark_xyz: FloatArray  # (L, 3)
    rtt_ms: Float32Array  # (N, L), NaN where not measured
    inflation: float  # calibrated route inflation for the estimate

    @property
    def empty(self) -> bool:
        return not self.landmarks

    def take(self, rows: npt.NDArray[np.intp]) -> MeasuredTable:
        """The same table over the given node rows only."""
        return MeasuredTable(self.landmarks, self.landmark_xyz, self.rtt_ms[rows], self.inflation)


def measured_table(
    node_xyz: npt.NDArray[np.floating],
    measured_rtt_ms: Mapping[int, Mapping[str, float]],
    landmarks: Mapping[str, tuple[float, float]],
) -> MeasuredTable:
    """The snapshot's sparse measurements as a dense matrix, and the inflation they imply."""
    names = tuple(sorted({lm for row in measured_rtt_ms.values() for lm in row} & set(landmarks)))
    if not names:
        return MeasuredTable((), np.zeros((0, 3)), np.zeros((len(node_xyz), 0), np.float32), 0.0)
    column = {name: j for j, name in enumerate(names)}
    rtt = np.full((len(node_xyz), len(names)), np.nan, dtype=np.float32)
    for row, samples in measured_rtt_ms.items():
        for name, ms in samples.items():
            j = column.get(name)
            if j is not None and 0 <= row < len(rtt):
                rtt[row, j] = ms
    lat = np.array([landmarks[n][0] for n in names])
    lon = np.array([landmarks[n][1] for n in names])
    xyz = geo.unit_vectors(lat, lon)
    return MeasuredTable(names, xyz, rtt, calibrate_inflation(node_xyz, xyz, rtt))


def calibrate_inflation(
    node_xyz: npt.NDArray[np.floating], landmark_xyz: FloatArray, rtt_ms: Float32Array
) -> float:
    """Median route inflation over measured pairs at least CALIBRATION_MIN_KM apart.

    With no such pair, the literature's 2.1.
    """
    km = geo.distance_matrix_km(node_xyz.astype(np.float64), landmark_xyz)
    usable = ~np.isnan(rtt_ms) & (km >= CALIBRATION_MIN_KM)
    if not usable.any():
        return geo.ROUTE_INFLATION
    ratio = rtt_ms[usable] * geo.FIBRE_KM_PER_MS / (2 * km[usable])
    return float(np.clip(np.median(ratio), *INFLATION_BOUNDS))


def demand_landmarks(
    names: Sequence[str], demand_xyz: FloatArray, table: MeasuredTable
) -> npt.NDArray[np.intp]:
    """Landmark column per demand point: same name, else nearest within the radius, else -1."""
    if table.empty:
        return np.full(len(names), -1, dtype=np.intp)
    by_name = {n: j for j, n in enumerate(table.landmarks)}
    km = geo.distance_matrix_km(demand_xyz, table.landmark_xyz)  # (D, L)
    nearest = np.argmin(km, axis=1)
    near_enough = km[np.arange(len(names)), nearest] <= LANDMARK_RADIUS_KM
    return np.array(
        [
            by_name.get(name, int(nearest[d]) if near_enough[d] else -1)
            for d, name in enumerate(names)
        ],
        dtype=np.intp,
    )


def rtt_matrix(
    node_xyz: npt.NDArray[np.float32],
    demand_names: Sequence[str],
    demand_lat: FloatArray,
    demand_lon: FloatArray,
    table: MeasuredTable,
) -> RttMatrix:
    """(N, D) RTTs: measured via the point's landmark where known, else the calibrated estimate."""
    demand_xyz = geo.unit_vectors(demand_lat, demand_lon)
    inflation = table.inflation or geo.ROUTE_INFLATION
    km = geo.distance_matrix_km(node_xyz, demand_xyz)
    rtt = (km * np.float32(2 * inflation / geo.FIBRE_KM_PER_MS)).astype(np.float32, copy=False)
    measured = np.zeros(rtt.shape, dtype=np.bool_)
    columns = demand_landmarks(demand_names, demand_xyz, table)
    for d in np.flatnonzero(columns >= 0):
        j = columns[d]
        leg_km = geo.distance_matrix_km(demand_xyz[d : d + 1], table.landmark_xyz[j : j + 1])
        leg_ms = float(leg_km[0, 0]) * 2 * inflation / geo.FIBRE_KM_PER_MS
        known = ~np.isnan(table.rtt_ms[:, j])
        rtt[known, d] = table.rtt_ms[known, j] + leg_ms
        measured[known, d] = True
    return RttMatrix(rtt, measured)

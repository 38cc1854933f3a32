"""Measured RTTs, node by node: agents' probe samples over the operator's matrix.

Three sources, the later winning for the same (node, landmark):
1. the operator's matrix rows for the node's region (`spec.location.region`),
2. the matrix rows for the node itself,
3. the node's agent's samples.

RTT noise is one-sided (queues only ever add delay), so the value kept for
a (node, landmark) is the least of its last SAMPLES_KEPT samples: it follows a
route change within a few probes and ignores a congested moment. Recording a
sample is a few dict operations (the heartbeat's hot path); each node's values
are held in a dict that is replaced, never changed, so a snapshot may share it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from controlplane.regions import Region, alias_index, landmarks, probe_targets
from controlplane.rttmatrix import RttMatrix
from tokenplane.v1 import agent_pb2

SAMPLES_KEPT = 5
MAX_OTHER_TARGETS = 16  # per node, targets that are not landmarks (its config's own)
DEFAULT_PROBE_INTERVAL_S = 20.0
MATRIX = "matrix"

RowRtts = dict[int, dict[str, float]]  # snapshot row -> landmark -> RTT ms


@dataclass(frozen=True, slots=True)
class MeasuredRtt:
    """One measured RTT of a node, and where it came from ("tcp-connect", "matrix", ...)."""

    target: str
    rtt_ms: float
    method: str


class RttMap:
    def __init__(
        self,
        regions: Mapping[str, Region] | None = None,
        *,
        probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S,
    ) -> None:
        self._samples: dict[tuple[int, str], deque[float]] = {}
        self._values: dict[int, dict[str, float]] = {}  # slot -> landmark -> robust RTT
        self._methods: dict[int, dict[str, str]] = {}
        self._matrix = RttMatrix()
        self.revision = 0
        # The snapshot's merged rows, kept between calls (see `measured`).
        self._merged: dict[int, dict[str, float]] = {}
        self._dirty: set[int] = set()
        self._regions_seen: np.ndarray = np.array([], dtype=np.str_)
        self._stale = True
        self.set_regions(regions or {}, probe_interval_s=probe_interval_s)

    def set_regions(
        self, regions: Mapping[str, Region], *, probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S
    ) -> None:
        self.landmarks: dict[str, tuple[float, float]] = landmarks(regions)
        self._aliases = alias_index(regions)
        self.probe_settings = agent_pb2.ProbeSettings(
            targets=[
                agent_pb2.ProbeTarget(name=name, address=address)
                for name, address in sorted(probe_targets(regions).items())
            ],
            interval_ms=round(probe_interval_s * 1000),
        )
        self._stale = True
        self.revision += 1

    @property
    def aliases(self) -> Mapping[str, str]:
        """Every landmark name and alias -> the landmark's name."""
        return self._aliases

    def set_matrix(self, matrix: RttMatrix) -> None:
        self._matrix = matrix
        self._stale = True
        self.revision += 1

    def record(self, slot: int, samples: Iterable[agent_pb2.RttSample]) -> None:
        """An agent's new samples (the heartbeat's hot path: a few dict operations each)."""
        values = dict(self._values.get(slot, ()))
        methods = self._methods.setdefault(slot, {})
        for sample in samples:
            if not 0 <= sample.rtt_ms <= 60_000:  # not a round trip (NaN fails both)
                continue
            target = self._aliases.get(sample.target, sample.target)
            if (
                target not in values
                and target not in self.landmarks
                and (sum(1 for t in values if t not in self.landmarks) >= MAX_OTHER_TARGETS)
            ):
                continue  # a bounded table, whatever an agent sends
            window = self._samples.get((slot, target))
            if window is None:
                window = self._samples[(slot, target)] = deque(maxlen=SAMPLES_KEPT)
            window.append(sample.rtt_ms)
            values[target] = min(window)
            methods[target] = sample.method or "agent"
        self._values[slot] = values
        self._dirty.add(slot)
        self.revision += 1

    def _matrix_rows(self, name: str, region: str) -> tuple[dict[str, float], ...]:
        by_source = self._matrix.by_source
        found = (
            by_source.get(self._aliases.get(region, region)) if region else None,
            by_source.get(name),
        )
        return tuple(r for r in found if r)

    def measured(self, names: Sequence[str], regions: np.ndarray) -> dict[int, dict[str, float]]:
        """Row -> {landmark: RTT ms} for the rows with any, landmarks only (for the snapshot).

        Incremental: only rows with new samples are merged again, unless the
        matrix, the landmarks or a node's region changed since the last call.
        """
        if self._stale or not np.array_equal(regions, self._regions_seen):
            self._merged = self._merge_all(names, regions)
            self._regions_seen = regions.copy()
            self._stale = False
        else:
            for row in self._dirty:
                if row < len(names):
                    self._merge_row(row, names[row], str(regions[row]), self._merged)
        self._dirty.clear()
        return dict(self._merged)

    def _merge_all(self, names: Sequence[str], regions: np.ndarray) -> RowRtts:
        by_source = self._matrix.by_source
        rows = {s for s in self._values if s < len(names)}
        if by_source:
            sources = set(by_source)
            sources.update(a for a, name in self._aliases.items() if name in sources)
            rows.update(int(r) for r in np.flatnonzero(np.isin(regions, list(sources))))
            rows.update(i for i, n in enumerate(names) if n in by_source)
        out: RowRtts = {}
        for row in sorted(rows):
            self._merge_row(row, names[row], str(regions[row]), out)
        return out

    def _merge_row(self, row: int, name: str, region: str, out: RowRtts) -> None:
        parts = self._matrix_rows(name, region) if self._matrix.by_source else ()
        agent = self._values.get(row)
        if agent:
            if not agent.keys() <= self.landmarks.keys():
                agent = {t: v for t, v in agent.items() if t in self.landmarks}
            parts = (*parts, agent)
        if len(parts) == 1:
            out[row] = parts[0]  # never mutated: shared, not copied
        elif parts:
            merged: dict[str, float] = {}
            for part in parts:
                merged.update(part)
            out[row] = merged
        else:
            out.pop(row, None)

    def of_node(self, slot: int, name: str, region: str) -> list[MeasuredRtt]:
        """Everything known of one node, with where each figure came from (for its status)."""
        found: dict[str, MeasuredRtt] = {}
        for part in self._matrix_rows(name, region):
            found.update({t: MeasuredRtt(t, v, MATRIX) for t, v in part.items()})
        methods = self._methods.get(slot, {})
        for target, value in self._values.get(slot, {}).items():
            found[target] = MeasuredRtt(target, value, methods.get(target, "agent"))
        return sorted(found.values(), key=lambda r: r.target)

"""FleetSnapshot: the fleet at one instant, as columns that a scheduler scores in one pass.

Row i of every array is the same node. Snapshots are immutable values: the
inventory builds one from its live table and hands it to the scheduler (through
Ray's object store when the scheduler is a Ray actor), so that scoring never
races with heartbeats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

TIERS: tuple[str, ...] = ("edge", "factory", "cloud")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]


@dataclass(frozen=True, slots=True)
class NodeTaint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class FleetSnapshot:
    """Columns over N nodes and G GPU models (the fleet's GPU model vocabulary)."""

    names: StrArray  # (N,)
    ready: BoolArray  # (N,) Ready condition: stream up and heartbeats fresh
    unschedulable: BoolArray  # (N,) cordoned
    tier: npt.NDArray[np.int8]  # (N,) index into TIERS
    region: StrArray  # (N,)
    country: StrArray  # (N,) ISO 3166-1 alpha-2
    lat: FloatArray  # (N,) degrees
    lon: FloatArray  # (N,) degrees
    gpu_models: tuple[str, ...]  # (G,)
    gpu_memory_gb: FloatArray  # (N, G) memory of one GPU of that model on that node
    gpus_total: IntArray  # (N, G)
    gpus_free: IntArray  # (N, G)
    budget_kw: FloatArray  # (N,) site power budget now (may drop: curtailment)
    it_draw_kw: FloatArray  # (N,) IT power drawn now
    renewable_kw: FloatArray  # (N,) on-site renewable power available now
    carbon_g_per_kwh: FloatArray  # (N,) grid carbon intensity now
    price_per_kwh: FloatArray  # (N,) energy price now
    taints: dict[int, tuple[NodeTaint, ...]] = field(default_factory=dict)  # sparse: row -> taints
    # Measured round trips, sparse: row -> {landmark name: RTT ms}, from agents' probes
    # and the operator's RTT matrix; `landmarks` locates each landmark (lat, lon).
    measured_rtt_ms: dict[int, dict[str, float]] = field(default_factory=dict)
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)
    revision: int = 0  # increases with every change of the live table
    # The next hours' grid carbon and price, (N, K) for hour offsets 1..K, NaN where
    # unknown; K = 0: no forecast (docs/forecast.md). Re-planning weighs moves by them.
    carbon_forecast_g_per_kwh: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    price_forecast_per_kwh: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def headroom_kw(self) -> FloatArray:
        return self.budget_kw - self.it_draw_kw

    def gpu_column(self, model: str) -> int | None:
        """Column of a GPU model in the (N, G) arrays, None if no node has it."""
        try:
            return self.gpu_models.index(model)
        except ValueError:
            return None

"""The live inventory: one row per node, one NumPy column per figure.

Heartbeats write single cells (microseconds each, no allocation), the liveness
sweep and the scheduler read whole columns. Nothing here is persisted: after a
restart the table refills as agents reconnect, which is why the store holds only
registrations and cordon state.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import numpy.typing as npt
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from controlplane.energy.history import SAMPLE_S, EnergyHistory, FeedForecast, grown_rows
from controlplane.errors import Exhausted, Invalid, clip
from controlplane.inventory import liveness
from controlplane.inventory.rtt import MeasuredRtt, RttMap
from controlplane.inventory.snapshot import TIERS, FleetSnapshot, FloatArray, NodeTaint
from controlplane.regions import Region
from controlplane.resources import Node
from controlplane.resources.limits import MAX_GPU_COUNT, MAX_GPU_MODELS_PER_NODE
from controlplane.resources.node import CARBON_KINDS
from controlplane.rttmatrix import RttMatrix
from tokenplane.v1 import agent_pb2, resources_pb2

_FLOAT_COLUMNS = (
    "lat",
    "lon",
    "budget_kw",
    "it_draw_kw",
    "renewable_kw",
    "carbon_g_per_kwh",
    "price_per_kwh",
    "last_heartbeat_s",
    "heartbeat_interval_s",
)


# Distinct GPU models in the whole fleet: each is a column every row pays for, so an
# agent inventing model names must not grow the table without bound.
MAX_GPU_MODELS = 64
_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)
MAX_FORECAST_POINTS = 168  # a week of hours: more is no forecast a feed makes


Field = tuple[str, str, bool]  # name, JSON name, repeated


@dataclass(frozen=True, slots=True)
class _NumberPlan:
    """Where a message type keeps its numbers: read once per type, so that checking a
    heartbeat costs a few C-level reads, not reflection."""

    scalar_sum: Callable[[Message], float] | None  # all single floats, added up in one go
    scalars: tuple[Field, ...]
    repeated: tuple[Field, ...]  # repeated floats
    messages: tuple[Field, ...]  # message fields that hold a float at some depth


@functools.cache
def _number_plan(descriptor: Descriptor) -> _NumberPlan:
    scalars: list[Field] = []
    repeated: list[Field] = []
    messages: list[Field] = []
    for field in descriptor.fields:
        entry = (field.name, field.json_name, field.is_repeated)
        if field.type in _FLOATS:
            (repeated if field.is_repeated else scalars).append(entry)
        elif (
            field.message_type is not None
            and not field.message_type.GetOptions().map_entry
            and _holds_floats(field.message_type, frozenset({descriptor.full_name}))
        ):
            messages.append(entry)  # only those with a number to check: not CarbonBasis
    return _NumberPlan(
        _summed(*(name for name, _, _ in scalars)), tuple(scalars), tuple(repeated), tuple(messages)
    )


def _summed(*names: str) -> Callable[[Message], float] | None:
    """The sum of a message's float fields: finite only if every one is (NaN and the
    infinities survive addition; an overflow of finite ones is sorted out field by field)."""
    if not names:
        return None
    get: Callable[[Message], Any] = operator.attrgetter(*names)
    return get if len(names) == 1 else lambda message: sum(get(message))


def _holds_floats(descriptor: Descriptor, seen: frozenset[str]) -> bool:
    """Whether a message type has a float field, at any depth (`seen`: recursive types)."""
    if descriptor.full_name in seen:
        return False
    inner = seen | {descriptor.full_name}
    return any(
        field.type in _FLOATS
        or (
            field.message_type is not None
            and not field.message_type.GetOptions().map_entry
            and _holds_floats(field.message_type, inner)
        )
        for field in descriptor.fields
    )


def _non_finite(message: Message, path: str) -> str | None:
    """The path of the first NaN or infinite number in `message`, if any."""
    plan = _number_plan(message.DESCRIPTOR)
    if plan.scalar_sum is not None and not math.isfinite(plan.scalar_sum(message)):
        for name, json_name, _ in plan.scalars:
            if not math.isfinite(getattr(message, name)):
                return f"{path}.{json_name}"
    for name, json_name, _ in plan.repeated:
        if not all(map(math.isfinite, getattr(message, name))):
            return f"{path}.{json_name}"
    for name, json_name, repeated in plan.messages:
        if repeated:
            for index, item in enumerate(getattr(message, name)):
                if (found := _non_finite(item, f"{path}.{json_name}[{index}]")) is not None:
                    return found
        elif message.HasField(name) and (
            found := _non_finite(getattr(message, name), f"{path}.{json_name}")
        ):
            return found
    return None


def check_gpu_models(models: Collection[str], known: Collection[str], where: str) -> None:
    """Refuses a node's GPU models if they are too many for one node or for the fleet."""
    if len(models) > MAX_GPU_MODELS_PER_NODE:
        raise Exhausted(
            f"{where}: {len(models)} GPU models; a node has at most {MAX_GPU_MODELS_PER_NODE}"
        )
    new = {m for m in models if m not in known}
    if len(known) + len(new) > MAX_GPU_MODELS:
        raise Exhausted(
            f"{where}: new GPU model {clip(min(new))!r}, but the fleet already has "
            f"{len(known)} of at most {MAX_GPU_MODELS} distinct GPU models"
        )


CARBON_BASIS_VALUES = {name: frozenset(get_args(kind)) for name, kind in CARBON_KINDS.items()}


def check_heartbeat(hb: agent_pb2.Heartbeat, known_models: Collection[str]) -> None:
    """Refuses a heartbeat that the table's columns cannot hold, naming the field, before
    any cell is written: a number that is not finite, a GPU count beyond int32, or more
    GPU models than a node, or the fleet, may have."""
    if (where := _non_finite(hb, "heartbeat")) is not None:
        raise Invalid(f"{where}: not a finite number")
    for index, gpu in enumerate(hb.gpus):
        for name, count in (("total", gpu.total), ("free", gpu.free)):
            if count > MAX_GPU_COUNT:
                raise Invalid(
                    f"heartbeat.gpus[{index}].{name}: {count} is more than {MAX_GPU_COUNT}"
                )
    models = [g.model for g in hb.gpus]
    if len(models) > MAX_GPU_MODELS_PER_NODE or any(m not in known_models for m in models):
        check_gpu_models(set(models), known_models, "heartbeat.gpus")
    if len(hb.forecast) > MAX_FORECAST_POINTS:
        raise Invalid(
            f"heartbeat.forecast: {len(hb.forecast)} points; at most {MAX_FORECAST_POINTS}"
        )
    if hb.HasField("carbon_basis"):
        basis = hb.carbon_basis
        for name, allowed in CARBON_BASIS_VALUES.items():
            if (value := getattr(basis, name)) not in allowed:
                raise Invalid(
                    f"heartbeat.carbonBasis.{name}: {clip(value)!r} is not one of "
                    + ", ".join(sorted(allowed))
                )


@dataclass(frozen=True, slots=True)
class Transition:
    """A node's Ready condition changed, and why (for the event and the condition)."""

    name: str
    ready: bool
    reason: str


class InventoryTable:
    # The float columns, one cell per node: made by _alloc from _FLOAT_COLUMNS.
    lat: FloatArray
    lon: FloatArray
    budget_kw: FloatArray
    it_draw_kw: FloatArray
    renewable_kw: FloatArray
    carbon_g_per_kwh: FloatArray
    price_per_kwh: FloatArray
    last_heartbeat_s: FloatArray
    heartbeat_interval_s: FloatArray

    def __init__(self, *, interval_s: float, capacity: int = 256) -> None:
        self._interval_s = interval_s
        # The interval heartbeats are judged by: after it shrinks, the longer one until
        # every agent has sent under the new (see set_intervals).
        self._judged_interval_s = interval_s
        self._judged_until_s = -math.inf
        self.joining = False  # Joins wait their turn, the server says: the deadline allows more
        self._slots: dict[str, int] = {}
        self._names: list[str] = []
        self._gpu_models: list[str] = []
        self._gpu_index: dict[str, int] = {}
        self._taints: dict[int, tuple[NodeTaint, ...]] = {}
        self._curtail_to_kw: dict[int, float] = {}  # sparse: row -> its feed's DR signal, kW
        self._energy_source: dict[int, str] = {}
        self._carbon_basis: dict[int, resources_pb2.CarbonBasis] = {}
        self._gpu_power_kw: dict[int, float] = {}  # NVML's measured board power, where metered
        self.revision = 0
        self.heartbeats = 0  # received in all; read by the metrics
        self._n_ready = 0
        self._last_disrupted_s = -float("inf")
        # How late the fleet's heartbeats run (a decaying maximum, measured each sweep):
        # the heartbeat deadline stretches with it when this machine is busy.
        self.lag_s = 0.0
        self._lag_at_s = 0.0
        self.rtt = RttMap()  # measured RTTs to landmarks (agents' probes, operator's matrix)
        self.energy_history = EnergyHistory(capacity)  # hourly carbon and price: forecasts
        self._energy_sampled_s = -math.inf
        self._feed_read_s: dict[int, float] = {}  # sparse: row -> when its feed forecast was read
        self._alloc(capacity, gpu_models=4)

    def _alloc(self, rows: int, gpu_models: int) -> None:
        def grow(
            old: npt.NDArray[Any] | None,
            shape: tuple[int, ...],
            dtype: npt.DTypeLike,
            fill: object = 0,
        ) -> npt.NDArray[Any]:
            new: npt.NDArray[Any] = np.full(shape, fill, dtype=dtype)
            if old is not None:
                new[tuple(slice(0, s) for s in old.shape)] = old
            return new

        get = self.__dict__.get
        self._capacity, self._gpu_capacity = rows, gpu_models
        for col in _FLOAT_COLUMNS:
            setattr(self, col, grow(get(col), (rows,), np.float64))
        self.connected = grow(get("connected"), (rows,), np.bool_, False)
        self.ready = grow(get("ready"), (rows,), np.bool_, False)
        self.seen = grow(get("seen"), (rows,), np.bool_, False)  # connected since start
        self.energy_fresh = grow(get("energy_fresh"), (rows,), np.bool_, False)  # unsampled
        self.unschedulable = grow(get("unschedulable"), (rows,), np.bool_, False)
        self.tier = grow(get("tier"), (rows,), np.int8)
        self.region = grow(get("region"), (rows,), np.dtype("<U32"), "")
        self.country = grow(get("country"), (rows,), np.dtype("<U2"), "")
        self.gpu_memory_gb = grow(get("gpu_memory_gb"), (rows, gpu_models), np.float64)
        self.gpus_total = grow(get("gpus_total"), (rows, gpu_models), np.int32)
        self.gpus_free = grow(get("gpus_free"), (rows, gpu_models), np.int32)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: str) -> bool:
        return name in self._slots

    def slot(self, name: str) -> int:
        return self._slots[name]

    def node_ready(self, name: str) -> bool:
        """Ready now (stream up, heartbeats fresh); False for an unknown node."""
        slot = self._slots.get(name)
        return slot is not None and bool(self.ready[slot])

    def node_seen(self, name: str) -> bool:
        """Whether the node's agent has connected since this process started."""
        slot = self._slots.get(name)
        return slot is not None and bool(self.seen[slot])

    @property
    def interval_s(self) -> float:
        """The heartbeat interval agents are told to use now."""
        return self._interval_s

    def _gpu_column(self, model: str) -> int:
        col = self._gpu_index.get(model)
        if col is None:
            check_gpu_models((model,), self._gpu_index, "gpus")
            col = len(self._gpu_models)
            if col == self._gpu_capacity:
                self._alloc(self._capacity, self._gpu_capacity * 2)
            self._gpu_models.append(model)
            self._gpu_index[model] = col
        return col

    def upsert(self, node: Node) -> int:
        """Adds or refreshes a node's static figures from its spec; returns its row."""
        slot = self._slots.get(node.name)
        if slot is None:
            slot = len(self._names)
            if slot == self._capacity:
                self._alloc(grown_rows(self._capacity), self._gpu_capacity)
            self._slots[node.name] = slot
            self._names.append(node.name)
        spec = node.spec
        self.tier[slot] = TIERS.index(spec.tier)
        self.region[slot] = spec.location.region
        self.country[slot] = spec.location.country
        self.lat[slot], self.lon[slot] = spec.location.lat, spec.location.lon
        self.unschedulable[slot] = spec.unschedulable
        if self.budget_kw[slot] == 0:
            self.budget_kw[slot] = spec.power.budget_kw
        self.gpus_total[slot] = 0
        for gpu in spec.capacity.gpus:
            col = self._gpu_column(gpu.model)
            self.gpus_total[slot, col] = gpu.count
            self.gpu_memory_gb[slot, col] = gpu.memory_gb
            if not self.connected[slot]:
                self.gpus_free[slot, col] = gpu.count
        if spec.taints:
            self._taints[slot] = tuple(NodeTaint(t.key, t.value, t.effect) for t in spec.taints)
        else:
            self._taints.pop(slot, None)
        self.revision += 1
        return slot

    def demand_response_kw(self) -> dict[str, float]:
        """Node -> the draw its feed's demand-response signal asks for now (those with one)."""
        return {self._names[slot]: kw for slot, kw in self._curtail_to_kw.items()}

    def set_unschedulable(self, name: str, value: bool) -> None:
        if name in self._slots:
            self.unschedulable[self._slots[name]] = value
            self.revision += 1

    def connect(self, slot: int, now_s: float) -> Transition | None:
        """The node's stream opened (its Hello arrived): it is alive as of now."""
        self.connected[slot] = True
        self.seen[slot] = True
        self.last_heartbeat_s[slot] = now_s
        self.heartbeat_interval_s[slot] = self._interval_s
        return self._set_ready(slot, True, "StreamConnected")

    def disconnect(self, slot: int) -> Transition | None:
        self.connected[slot] = False
        return self._set_ready(slot, False, "StreamClosed")

    def heartbeat(self, slot: int, hb: agent_pb2.Heartbeat, now_s: float) -> Transition | None:
        """The hot path: a few cell writes per message, no allocation beyond a GPU lookup.

        Invalid or Exhausted (see check_heartbeat) leave the row as it was."""
        check_heartbeat(hb, self._gpu_index)
        self.heartbeats += 1
        self.last_heartbeat_s[slot] = now_s
        self.it_draw_kw[slot] = hb.it_draw_kw
        if hb.budget_kw:
            self.budget_kw[slot] = hb.budget_kw
        self.renewable_kw[slot] = hb.renewable_kw
        self.carbon_g_per_kwh[slot] = hb.carbon_g_per_kwh
        self.price_per_kwh[slot] = hb.price_per_kwh
        self.energy_fresh[slot] = True
        if hb.forecast:  # read at most once a minute: a feed forecasts hourly
            if now_s - self._feed_read_s.get(slot, -math.inf) >= SAMPLE_S:
                self.energy_history.set_feed(slot, _feed_forecast(hb))
                self._feed_read_s[slot] = now_s
        elif self._feed_read_s.pop(slot, None) is not None:
            self.energy_history.set_feed(slot, None)
        for gpu in hb.gpus:
            col = self._gpu_index.get(gpu.model)
            if col is None:
                col = self._gpu_column(gpu.model)
                self.gpu_memory_gb[slot, col] = gpu.memory_gb
            self.gpus_total[slot, col] = gpu.total
            self.gpus_free[slot, col] = gpu.free
        if hb.energy_source:
            self._energy_source[slot] = hb.energy_source
        if hb.HasField("carbon_basis") and self._carbon_basis.get(slot) != hb.carbon_basis:
            # A copy: the submessage itself would keep the whole heartbeat's memory alive.
            basis = self._carbon_basis[slot] = resources_pb2.CarbonBasis()
            basis.CopyFrom(hb.carbon_basis)
        if hb.HasField("gpu_power_kw"):
            self._gpu_power_kw[slot] = hb.gpu_power_kw
        else:
            self._gpu_power_kw.pop(slot, None)
        if hb.HasField("curtail_to_kw"):
            self._curtail_to_kw[slot] = hb.curtail_to_kw
        else:
            self._curtail_to_kw.pop(slot, None)
        if hb.rtt_samples:
            self.rtt.record(slot, hb.rtt_samples)
        if hb.HasField("location"):
            self.lat[slot], self.lon[slot] = hb.location.lat, hb.location.lon
        self.revision += 1
        if not self.ready[slot] and self.connected[slot]:
            return self._set_ready(slot, True, "HeartbeatResumed")
        return None

    def expire(self, now_s: float) -> list[Transition]:
        """Marks NotReady every live node silent past the deadline; returns the changes."""
        n = len(self._names)
        if now_s - self._energy_sampled_s >= SAMPLE_S:  # once a minute: forecasts' history
            self.energy_history.sample(
                self.carbon_g_per_kwh[:n], self.price_per_kwh[:n], self.energy_fresh[:n], now_s
            )
            self.energy_fresh[:n] = False
            self._energy_sampled_s = now_s
        if now_s >= self._judged_until_s:
            self._judged_interval_s = self._interval_s
        silence_s = now_s - self.last_heartbeat_s[:n]
        measured = liveness.fleet_lag_s(silence_s[self.ready[:n]], self._judged_interval_s)
        self.lag_s = max(measured, liveness.decayed(self.lag_s, now_s - self._lag_at_s))
        self._lag_at_s = now_s
        stale = liveness.late(now_s, self.last_heartbeat_s[:n], self.deadline_s, self.ready[:n])
        rows: Iterable[int] = np.flatnonzero(stale)
        if liveness.mass_silence(int(np.count_nonzero(stale)), self._n_ready):
            self._last_disrupted_s = now_s  # our stall: hold them; see liveness.mass_silence
            rows = ()
        changes = [t for s in rows if (t := self._set_ready(int(s), False, "HeartbeatMissed"))]
        self.suspect_self(now_s)
        return changes

    def suspect_self(self, now_s: float) -> bool:
        """Whether so much of the fleet is (or just was) silent that the fault is likelier ours.

        The reconciler asks before it replaces replicas; the liveness sweep asks
        every quarter second, so that a short disruption still starts the hold.
        """
        n = len(self._names)
        if liveness.disrupted(n - self._n_ready, n):
            self._last_disrupted_s = now_s
        return liveness.suspect_self(now_s, self._last_disrupted_s, liveness.RECONNECT_CAP_S)

    @property
    def deadline_s(self) -> float:
        """Silence after which a live node turns NotReady, as of the last sweep."""
        # A storm's slack lasts while its longer interval is still the judge.
        joining = self.joining or self._judged_interval_s > self._interval_s
        return liveness.deadline_s(self._judged_interval_s, self.lag_s, joining=joining)

    def set_intervals(self, interval_s: float, *, now_s: float) -> None:
        """The fleet's new heartbeat interval (agents are told it).

        A shorter interval reaches an agent with its next heartbeat, scheduled at the
        old one: until one old interval has passed, heartbeats are judged by the old
        (as late ones would otherwise be taken for a lagging fleet, or flap).
        """
        if interval_s < self._judged_interval_s:
            self._judged_until_s = now_s + self._judged_interval_s + liveness.LATE_MARGIN_S
        else:
            self._judged_interval_s = interval_s
        self._interval_s = interval_s
        self.heartbeat_interval_s[: len(self._names)] = interval_s

    def _set_ready(self, slot: int, ready: bool, reason: str) -> Transition | None:
        if self.ready[slot] == ready:
            return None
        self.ready[slot] = ready
        self._n_ready += 1 if ready else -1
        self.revision += 1
        return Transition(self._names[slot], ready, reason)

    def energy_source(self, slot: int) -> str:
        return self._energy_source.get(slot, "")

    def carbon_basis(self, slot: int) -> resources_pb2.CarbonBasis | None:
        """What the node's carbon figure is, as its last heartbeat said (None: not said)."""
        return self._carbon_basis.get(slot)

    def curtail_to_kw(self, slot: int) -> float | None:
        """The draw the node's feed asks for now (a demand-response signal; None: none)."""
        return self._curtail_to_kw.get(slot)

    def gpu_power_kw(self, slot: int) -> float | None:
        """The node's measured GPU board power (None: no meter)."""
        return self._gpu_power_kw.get(slot)

    def gpu_models(self) -> tuple[str, ...]:
        return tuple(self._gpu_models)

    def check_node(self, node: Node) -> None:
        """Refuses, before it is stored, a node whose GPU models the table could not hold."""
        check_gpu_models(
            {g.model for g in node.spec.capacity.gpus}, self._gpu_index, "spec.capacity.gpus"
        )

    def set_regions(self, regions: Mapping[str, Region], probe_interval_s: float) -> None:
        """The landmarks RTTs are measured to, and the probes agents are told to run."""
        self.rtt.set_regions(regions, probe_interval_s=probe_interval_s)
        self.revision += 1

    def set_rtt_matrix(self, matrix: RttMatrix) -> None:
        self.rtt.set_matrix(matrix)
        self.revision += 1

    def node_rtts(self, name: str) -> list[MeasuredRtt]:
        """A node's measured RTTs and their sources; empty for an unknown node."""
        slot = self._slots.get(name)
        if slot is None:
            return []
        return self.rtt.of_node(slot, name, str(self.region[slot]))

    def snapshot(self) -> FleetSnapshot:
        """A consistent copy of the live rows, for the scheduler."""
        n, g = len(self._names), len(self._gpu_models)
        forecast = self.energy_history.forecast(n)
        return FleetSnapshot(
            names=np.array(self._names, dtype=np.str_),
            ready=self.ready[:n].copy(),
            unschedulable=self.unschedulable[:n].copy(),
            tier=self.tier[:n].copy(),
            region=self.region[:n].copy(),
            country=self.country[:n].copy(),
            lat=self.lat[:n].copy(),
            lon=self.lon[:n].copy(),
            gpu_models=tuple(self._gpu_models),
            gpu_memory_gb=self.gpu_memory_gb[:n, :g].copy(),
            gpus_total=self.gpus_total[:n, :g].copy(),
            gpus_free=self.gpus_free[:n, :g].copy(),
            budget_kw=self.budget_kw[:n].copy(),
            it_draw_kw=self.it_draw_kw[:n].copy(),
            renewable_kw=self.renewable_kw[:n].copy(),
            carbon_g_per_kwh=self.carbon_g_per_kwh[:n].copy(),
            price_per_kwh=self.price_per_kwh[:n].copy(),
            taints=dict(self._taints),
            measured_rtt_ms=self.rtt.measured(self._names, self.region[:n]),
            landmarks=dict(self.rtt.landmarks),
            revision=self.revision,
            carbon_forecast_g_per_kwh=forecast.carbon_g_per_kwh,
            price_forecast_per_kwh=forecast.price_per_kwh,
        )


def _feed_forecast(hb: agent_pb2.Heartbeat) -> FeedForecast:
    points = sorted(hb.forecast, key=lambda p: p.hour_offset)
    return FeedForecast(
        np.array([p.hour_offset for p in points], np.int64),
        np.array([p.carbon_g_per_kwh for p in points]),
        np.array([p.price_per_kwh for p in points]),
    )

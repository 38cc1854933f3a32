"""The live table: heartbeats into columns, liveness transitions, snapshots."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest

from controlplane.errors import Invalid
from controlplane.inventory import InventoryTable, liveness
from controlplane.inventory.table import check_heartbeat
from controlplane.inventory.view import with_live_status
from controlplane.resources import load_manifests
from tests.support.processes import write_fleet
from tokenplane.v1 import agent_pb2, resources_pb2


def _table(tmp_path, n: int = 3) -> InventoryTable:  # type: ignore[no-untyped-def]
    table = InventoryTable(interval_s=1.0, capacity=2)  # small, so that it must grow
    for node in load_manifests(write_fleet(tmp_path / "f.yaml", n).read_text()):
        table.upsert(node)  # type: ignore[arg-type]
    return table


def test_columns_grow_by_a_quarter_not_double(tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = _table(tmp_path, 1)
    (node,) = load_manifests(write_fleet(tmp_path / "one.yaml", 1).read_text())
    for i in range(1, 3_000):  # copies, not 3,000 YAML documents parsed (seconds)
        named = node.model_copy(deep=True)
        named.metadata.name = f"node-{i}"
        table.upsert(named)  # type: ignore[arg-type]
    assert len(table) == 3_000 and table.slot("node-2999") == 2_999
    assert 3_000 <= len(table.ready) <= 3_000 * 1.25 + 256  # doubling held 4,096 rows


def _beat(**kw: object) -> agent_pb2.Heartbeat:
    return agent_pb2.Heartbeat(**kw)  # type: ignore[arg-type]


def test_nodes_enter_not_ready_and_stream_makes_them_ready(tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = _table(tmp_path)
    assert len(table) == 3 and not table.ready[:3].any()
    t = table.connect(table.slot("node-1"), now_s=10.0)
    assert t is not None and t.ready and t.name == "node-1" and t.reason == "StreamConnected"
    assert table.connect(table.slot("node-1"), now_s=10.5) is None  # no change, no transition


def test_heartbeat_writes_the_columns_scheduler_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = _table(tmp_path)
    slot = table.slot("node-2")
    table.connect(slot, 0.0)
    table.heartbeat(
        slot,
        _beat(
            it_draw_kw=5,
            budget_kw=18,
            renewable_kw=3,
            carbon_g_per_kwh=420,
            price_per_kwh=0.3,
            gpus=[
                agent_pb2.GpuUsage(model="L4", total=4, free=1),
                agent_pb2.GpuUsage(model="H100", memory_gb=80, total=8, free=8),
            ],
        ),
        1.0,
    )
    snap = table.snapshot()
    assert snap.gpu_models == ("L4", "H100")
    row = list(snap.names).index("node-2")
    assert snap.gpus_free[row].tolist() == [1, 8]
    assert snap.gpus_free[0].tolist() == [4, 0]  # others keep their spec capacity
    assert snap.headroom_kw[row] == 13
    assert snap.carbon_g_per_kwh[row] == 420
    assert snap.ready[row] and not snap.ready[0]


def test_silent_node_expires_after_three_intervals(tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = _table(tmp_path)
    for name in ("node-0", "node-1"):
        table.connect(table.slot(name), 0.0)
    table.heartbeat(table.slot("node-1"), _beat(), 2.5)
    assert table.expire(2.9) == []
    expired = table.expire(3.1)
    assert [(t.name, t.ready, t.reason) for t in expired] == [("node-0", False, "HeartbeatMissed")]
    back = table.heartbeat(table.slot("node-0"), _beat(), 3.2)
    assert back is not None and back.ready and back.reason == "HeartbeatResumed"


def test_closed_stream_is_not_ready_at_once_and_heartbeats_do_not_revive_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = _table(tmp_path)
    slot = table.slot("node-0")
    table.connect(slot, 0.0)
    t = table.disconnect(slot)
    assert t is not None and not t.ready and t.reason == "StreamClosed"
    assert table.heartbeat(slot, _beat(), 0.1) is None and not table.ready[slot]


def test_snapshot_is_a_copy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = _table(tmp_path)
    snap = table.snapshot()
    table.connect(0, 0.0)
    table.heartbeat(0, _beat(carbon_g_per_kwh=999), 0.0)
    assert not snap.ready[0] and snap.carbon_g_per_kwh[0] != 999
    assert snap.revision < table.revision


def test_interval_grows_with_the_fleet_never_below_base() -> None:
    assert liveness.heartbeat_interval_s(100, base_s=1.0, max_rate_per_s=4000) == 1.0
    assert liveness.heartbeat_interval_s(20_000, base_s=1.0, max_rate_per_s=4000) == 5.0


def test_a_server_reading_heartbeats_late_asks_the_fleet_to_slow_down() -> None:
    def interval(n_nodes: int, lag_s: float) -> float:
        return liveness.heartbeat_interval_s(n_nodes, base_s=1.0, max_rate_per_s=4000, lag_s=lag_s)

    assert interval(1_000, lag_s=0.2) == 1.0  # a little late: nothing changes
    assert interval(1_000, lag_s=1.5) == 3.0  # twice the lateness
    assert interval(10_000, lag_s=1.0) == 2.5  # the fleet's own size already asks more
    assert interval(1_000, lag_s=60.0) == liveness.MAX_SLOWDOWN_INTERVAL_S
    # A late server's deadline grows with the interval it told: slower, not flapping.
    assert liveness.deadline_s(interval(1_000, lag_s=6.0), lag_s=6.0) == 15.0
    assert not liveness.interval_changed(1.0, 1.1)
    assert liveness.interval_changed(1.0, 2.5)


def test_expired_is_vectorised() -> None:
    last = np.array([0.0, 5.0, 9.0])
    alive = np.array([True, True, False])
    assert liveness.expired(10.0, last, np.ones(3), alive).tolist() == [True, True, False]


def test_carbon_basis_and_measured_power_reach_the_node_status(tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = _table(tmp_path)
    slot = table.slot("node-1")
    table.connect(slot, 0.0)
    basis = resources_pb2.CarbonBasis(
        signal="marginal", scope="direct", provenance="forecast", zone="CAISO_NORTH", stale=True
    )
    table.heartbeat(slot, _beat(carbon_g_per_kwh=380, carbon_basis=basis, gpu_power_kw=0.7), 1.0)
    (node,) = [n for n in load_manifests(write_fleet(tmp_path / "g.yaml", 3).read_text())][1:2]
    assert node.metadata.name == "node-1"
    shown = with_live_status(node, table, wall_now=datetime.now(UTC), mono_now_s=1.0)  # type: ignore[arg-type]
    energy = shown.status.energy  # type: ignore[union-attr]
    assert energy is not None and energy.carbon_basis is not None
    assert energy.carbon_basis.label() == "marginal/direct/forecast,stale"
    assert energy.carbon_basis.zone == "CAISO_NORTH" and energy.gpu_power_kw == 0.7
    bad = resources_pb2.CarbonBasis(signal="avg", scope="direct", provenance="measured")
    with pytest.raises(Invalid, match=r"carbonBasis\.signal: 'avg' is not one of average"):
        table.heartbeat(slot, _beat(carbon_g_per_kwh=1, carbon_basis=bad), 2.0)
    assert table.carbon_g_per_kwh[slot] == 380  # the refused heartbeat wrote nothing
    table.heartbeat(slot, _beat(carbon_g_per_kwh=300), 3.0)
    assert table.gpu_power_kw(slot) is None  # the meter is gone: no stale measured figure


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (lambda hb: setattr(hb, "it_draw_kw", math.nan), "heartbeat.itDrawKw"),
        (lambda hb: setattr(hb.location, "lat", math.inf), "heartbeat.location.lat"),
        (
            lambda hb: setattr(hb.forecast[1], "carbon_g_per_kwh", -math.inf),
            "heartbeat.forecast[1].carbonGPerKwh",
        ),
    ],
)
def test_a_number_that_is_not_finite_is_refused_naming_its_field(
    spoil: Callable[[agent_pb2.Heartbeat], None], field: str
) -> None:
    hb = agent_pb2.Heartbeat(it_draw_kw=2.0, carbon_g_per_kwh=300)
    hb.forecast.add(hour_offset=1, carbon_g_per_kwh=280)
    hb.forecast.add(hour_offset=2, carbon_g_per_kwh=260)
    check_heartbeat(hb, known_models=())
    spoil(hb)
    with pytest.raises(Invalid, match=re.escape(f"{field}: not a finite number")):
        check_heartbeat(hb, known_models=())


def test_huge_but_finite_numbers_pass_although_their_sum_overflows() -> None:
    hb = agent_pb2.Heartbeat(it_draw_kw=1e308, budget_kw=1e308, carbon_g_per_kwh=-1e308)
    check_heartbeat(hb, known_models=())
    hb.renewable_kw = math.inf
    with pytest.raises(Invalid, match=re.escape("heartbeat.renewableKw: not a finite number")):
        check_heartbeat(hb, known_models=())

"""The inventory's forecast columns: what the node's feed says, else seasonal-naive after a day.

The clock is passed in: two days of heartbeats take no time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from controlplane.inventory import InventoryTable
from controlplane.inventory.view import with_live_status
from controlplane.resources import Node, load_manifests
from tests.support.processes import write_fleet
from tokenplane.v1 import agent_pb2, resources_pb2

HOUR_S = 3600.0
DAY = [400.0] * 8 + [150.0] * 8 + [400.0] * 8  # a clean afternoon, every day


def fleet(tmp_path: Path) -> tuple[InventoryTable, list[Node]]:
    table = InventoryTable(interval_s=1.0, capacity=2)
    nodes = [n for n in load_manifests(write_fleet(tmp_path / "f.yaml", 2).read_text())]
    for n in nodes:
        assert isinstance(n, Node)
        table.upsert(n)
    return table, nodes  # type: ignore[return-value]


def two_days(table: InventoryTable, slot: int) -> float:
    """Heartbeats every 20 minutes for two days, up to 07:40 of the third; returns now."""
    table.connect(slot, 0.0)
    now_s = 0.0
    for step in range((48 + 8) * 3):
        now_s = step * 1200.0
        g = DAY[int(now_s // HOUR_S) % 24]
        table.heartbeat(slot, agent_pb2.Heartbeat(carbon_g_per_kwh=g, price_per_kwh=g / 1e3), now_s)
        table.expire(now_s)  # the liveness sweep samples the figures once a minute
    return now_s


def test_after_a_day_the_snapshot_carries_the_seasonal_naive_forecast(tmp_path: Path) -> None:
    table, nodes = fleet(tmp_path)
    now_s = two_days(table, table.slot("node-1"))
    snap = table.snapshot()
    assert np.isfinite(snap.carbon_forecast_g_per_kwh[table.slot("node-1")]).all()
    row = list(snap.names).index("node-1")
    assert snap.carbon_forecast_g_per_kwh[row, 0] == pytest.approx(150.0)  # 08:00: the dip
    assert snap.price_forecast_per_kwh[row, 0] == pytest.approx(0.150)
    assert np.isnan(snap.carbon_forecast_g_per_kwh[1 - row]).all()  # node-2: no history
    shown = with_live_status(nodes[row], table, wall_now=datetime.now(UTC), mono_now_s=now_s)
    energy = shown.status.energy  # type: ignore[union-attr]
    assert energy is not None and energy.forecast_source == "seasonal-naive"
    assert [p.hour_offset for p in energy.forecast] == list(range(1, 25))


def test_a_feed_forecast_replaces_ours_while_the_feed_sends_it(tmp_path: Path) -> None:
    table, _ = fleet(tmp_path)
    slot = table.slot("node-1")
    now_s = two_days(table, slot)
    feed = [resources_pb2.ForecastPoint(hour_offset=1, carbon_g_per_kwh=90.0, price_per_kwh=0.02)]
    table.heartbeat(slot, agent_pb2.Heartbeat(carbon_g_per_kwh=400, forecast=feed), now_s + 1)
    snap = table.snapshot()
    assert snap.carbon_forecast_g_per_kwh[slot, 0] == 90.0
    assert np.isnan(snap.carbon_forecast_g_per_kwh[slot, 1:]).all()  # the feed said one hour
    table.heartbeat(slot, agent_pb2.Heartbeat(carbon_g_per_kwh=400), now_s + 2)
    assert table.snapshot().carbon_forecast_g_per_kwh[slot, 0] == pytest.approx(150.0, abs=5)

"""Splitting a fleet by region and choosing regions first (the pure part of sharding)."""

from __future__ import annotations

import numpy as np

from controlplane.scheduler import PlacementRequest, choose_regions
from controlplane.scheduler.request import Demand
from controlplane.scheduler.sharding import balance_regions, take_rows
from tests.scheduler.fleets import FakeNode, random_fleet, snapshot_of


def test_take_rows_keeps_columns_and_renumbers_taints() -> None:
    snap = snapshot_of(random_fleet(30, seed=2))
    rows = np.array([*sorted(snap.taints)[:2], 0])
    sub = take_rows(snap, rows)
    assert list(sub.names) == list(snap.names[rows])
    assert sub.gpus_free.shape == (3, len(snap.gpu_models))
    assert set(sub.taints) == {0, 1} | ({2} if 0 in snap.taints else set())
    assert sub.taints[0] == snap.taints[int(rows[0])]


def test_balance_regions_by_node_count() -> None:
    nodes = [FakeNode(f"{r}-{i}", region=r) for r, k in (("a", 6), ("b", 3), ("c", 3))
             for i in range(k)]
    groups = balance_regions(snapshot_of(nodes), 2)
    assert sorted(groups) == [("a",), ("b", "c")]
    assert balance_regions(snapshot_of(nodes), 10) == [("a",), ("b",), ("c",)]


def test_choose_regions_prefers_cheap_spreads_and_respects_capacity() -> None:
    nodes = [
        FakeNode("green-0", region="green", carbon_g_per_kwh=50, gpus_free={"H100": 2}),
        FakeNode("green-1", region="green", carbon_g_per_kwh=50, gpus_free={"H100": 1}),
        FakeNode("grey-0", region="grey", carbon_g_per_kwh=300),
        FakeNode("brown-0", region="brown", carbon_g_per_kwh=800, gpus_free={}),
    ]
    snap = snapshot_of(nodes)
    carbon = PlacementRequest("d", gpus=1, gpu_model="H100", power_kw=1,
                              weights={"carbon": 1.0})
    assert choose_regions(snap, carbon, 5) == {"green": 3, "grey": 2}  # green holds 3
    spread = PlacementRequest("d", gpus=1, gpu_model="H100", power_kw=1,
                              weights={"carbon": 0.1, "spread": 1.0})
    assert choose_regions(snap, spread, 2) == {"green": 1, "grey": 1}
    assert choose_regions(snap, carbon, 2, exclude={"green"}) == {"grey": 2}
    assert choose_regions(snap, carbon, 100) == {"green": 3, "grey": 8}
    far = PlacementRequest("d", demand=(Demand("x", 1, -33.9, 151.2),), latency_slo_ms=10)
    assert choose_regions(snap, far, 1) == {}

"""Each hard filter on its own: its pure mask function and its reason constant."""

from __future__ import annotations

from typing import Any

import numpy as np

from controlplane.inventory.snapshot import NodeTaint
from controlplane.scheduler import filters
from controlplane.scheduler.filters import gpus, power, privacy, residency, taints
from controlplane.scheduler.filters import tier as tier_filter
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.framework import PlacementContext
from controlplane.scheduler.pipeline import build_context
from controlplane.scheduler.request import PlacementRequest, Toleration
from tests.scheduler.fleets import FakeNode, snapshot_of


def ctx_for(nodes: list[FakeNode], **request: Any) -> PlacementContext:
    return build_context(FleetIndex(snapshot_of(nodes)), PlacementRequest("d", **request))


def test_reasons_are_the_documented_constants() -> None:
    assert [
        f.reason
        for f in (
            filters.Ready(),
            filters.Cordon(),
            filters.Tier(),
            filters.Privacy(),
            filters.Residency(),
            filters.Taints(),
            filters.Gpus(),
            filters.Power(),
        )
    ] == [
        "not ready",
        "cordoned",
        "tier",
        "privacy",
        "residency",
        "taints",
        "insufficient GPUs",
        "power headroom",
    ]


def test_ready_and_cordon() -> None:
    ctx = ctx_for([FakeNode("a"), FakeNode("b", ready=False), FakeNode("c", cordoned=True)])
    assert filters.Ready()(ctx).tolist() == [True, False, True]
    assert filters.Cordon()(ctx).tolist() == [True, True, False]


def test_tier() -> None:
    codes = np.array([0, 1, 2], np.int8)  # edge, factory, cloud
    assert tier_filter.tier_mask(codes, []).all()
    assert tier_filter.tier_mask(codes, ["edge", "cloud"]).tolist() == [True, False, True]


def test_privacy_edge_only() -> None:
    codes = np.array([0, 1, 2], np.int8)
    assert privacy.privacy_mask(codes, False).all()
    assert privacy.privacy_mask(codes, True).tolist() == [True, False, False]


def test_residency_regions_and_countries() -> None:
    region_code = np.array([0, 1, 2])
    country = np.array(["DE", "FR", "DE"])
    assert residency.residency_mask(region_code, None, country, []).all()
    assert residency.residency_mask(region_code, np.array([0, 1]), country, ["DE"]).tolist() == [
        True,
        False,
        False,
    ]
    ctx = ctx_for([FakeNode("a", region="eu"), FakeNode("b", region="us")], regions=("us",))
    assert filters.Residency()(ctx).tolist() == [False, True]
    ctx = ctx_for([FakeNode("a")], regions=("mars",))  # a region the fleet lacks
    assert not filters.Residency()(ctx).any()


def test_taints_and_tolerations() -> None:
    no_schedule = NodeTaint("gpu", "reserved", "NoSchedule")
    prefer = NodeTaint("spot", "", "PreferNoSchedule")
    assert not taints.tolerated(no_schedule, [])
    assert taints.tolerated(prefer, [])
    assert taints.tolerated(no_schedule, [Toleration("gpu")])
    assert taints.tolerated(no_schedule, [Toleration("gpu", "reserved", "NoSchedule")])
    assert not taints.tolerated(no_schedule, [Toleration("gpu", "other")])
    assert not taints.tolerated(no_schedule, [Toleration("gpu", "", "NoExecute")])
    nodes = [
        FakeNode("a", taints=(no_schedule,)),
        FakeNode("b", taints=(prefer,)),
        FakeNode("c"),
        FakeNode("d", taints=(no_schedule,)),
    ]
    assert filters.Taints()(ctx_for(nodes)).tolist() == [False, True, True, False]
    tolerant = ctx_for(nodes, tolerations=(Toleration("gpu"),))
    assert filters.Taints()(tolerant).all()


def test_gpus_model_count_and_memory() -> None:
    free = np.array([[4, 0], [1, 8], [2, 2]], np.int32)
    memory_ok = np.array([[True, True], [True, False], [False, True]])
    assert gpus.gpus_mask(free, memory_ok, 2).tolist() == [True, False, True]
    nodes = [
        FakeNode("a", gpus_free={"H100": 2}),
        FakeNode("b", gpus_free={"L4": 8}),
        FakeNode("c", gpus_free={"H100": 1}),
    ]
    assert filters.Gpus()(ctx_for(nodes, gpus=2, gpu_model="H100")).tolist() == [True, False, False]
    assert filters.Gpus()(ctx_for(nodes, gpus=2)).tolist() == [True, True, False]  # any model
    assert filters.Gpus()(ctx_for(nodes, gpus=2, gpu_memory_gb=40)).tolist() == [
        True,
        False,
        False,
    ]  # L4 has 24 GB
    assert not filters.Gpus()(ctx_for(nodes, gpus=1, gpu_model="B200")).any()
    assert filters.Gpus()(ctx_for(nodes, gpus=0)).all()


def test_power_headroom() -> None:
    headroom = np.array([10.0, 5.0, 4.9, -1.0])
    assert power.power_mask(headroom, 5.0).tolist() == [True, True, False, False]
    assert power.power_mask(headroom, 0.0).tolist() == [True, True, True, False]
    ctx = ctx_for(
        [FakeNode("a", budget_kw=100, it_draw_kw=95), FakeNode("b", budget_kw=100, it_draw_kw=96)],
        power_kw=5,
    )
    assert filters.Power()(ctx).tolist() == [True, False]

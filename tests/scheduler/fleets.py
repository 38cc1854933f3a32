"""Small fleets for the scheduler's tests: nodes written out one by one, or drawn at random."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from controlplane.inventory.snapshot import TIERS, FleetSnapshot, NodeTaint

GPU_MODELS = ("H100", "L4")
GPU_MEMORY_GB = {"H100": 80.0, "L4": 24.0}


@dataclass
class FakeNode:
    name: str
    tier: str = "factory"
    region: str = "eu-west"
    country: str = "DE"
    lat: float = 50.1
    lon: float = 8.7
    gpus_free: dict[str, int] = field(default_factory=lambda: {"H100": 8})
    budget_kw: float = 1000.0
    it_draw_kw: float = 0.0
    renewable_kw: float = 0.0
    carbon_g_per_kwh: float = 300.0
    price_per_kwh: float = 0.10
    ready: bool = True
    cordoned: bool = False
    taints: tuple[NodeTaint, ...] = ()


def snapshot_of(nodes: Sequence[FakeNode], revision: int = 1) -> FleetSnapshot:
    n, g = len(nodes), len(GPU_MODELS)
    free = np.zeros((n, g), np.int32)
    memory = np.zeros((n, g))
    for i, node in enumerate(nodes):
        for model, count in node.gpus_free.items():
            j = GPU_MODELS.index(model)
            free[i, j] = count
            memory[i, j] = GPU_MEMORY_GB[model]
    col = lambda attr, dtype=np.float64: np.array([getattr(x, attr) for x in nodes], dtype)  # noqa: E731
    return FleetSnapshot(
        names=np.array([x.name for x in nodes], dtype="<U64"),
        ready=col("ready", np.bool_),
        unschedulable=col("cordoned", np.bool_),
        tier=np.array([TIERS.index(x.tier) for x in nodes], np.int8),
        region=np.array([x.region for x in nodes], dtype="<U32"),
        country=np.array([x.country for x in nodes], dtype="<U2"),
        lat=col("lat"),
        lon=col("lon"),
        gpu_models=GPU_MODELS,
        gpu_memory_gb=memory,
        gpus_total=free.copy(),
        gpus_free=free,
        budget_kw=col("budget_kw"),
        it_draw_kw=col("it_draw_kw"),
        renewable_kw=col("renewable_kw"),
        carbon_g_per_kwh=col("carbon_g_per_kwh"),
        price_per_kwh=col("price_per_kwh"),
        taints={i: x.taints for i, x in enumerate(nodes) if x.taints},
        revision=revision,
    )


REGIONS = (  # name, country, lat, lon
    ("eu-west", "DE", 50.1, 8.7),
    ("eu-north", "SE", 59.3, 18.1),
    ("uk-south", "GB", 51.5, -0.1),
    ("us-east", "US", 40.7, -74.0),
    ("us-west", "US", 37.3, -121.9),
)


def random_fleet(n: int, seed: int = 0) -> list[FakeNode]:
    """A mixed fleet: tiers, regions, GPU models, budgets, renewables, taints, cordons."""
    rng = np.random.default_rng(seed)
    nodes = []
    for i in range(n):
        region, country, lat, lon = REGIONS[rng.integers(len(REGIONS))]
        tier = TIERS[rng.integers(len(TIERS))]
        budget = float(rng.uniform(20, 200))
        nodes.append(
            FakeNode(
                name=f"node-{i:03d}",
                tier=tier,
                region=region,
                country=country,
                lat=lat + rng.normal(0, 1.5),
                lon=lon + rng.normal(0, 1.5),
                gpus_free={"H100": int(rng.integers(0, 9)), "L4": int(rng.integers(0, 5))},
                budget_kw=budget,
                it_draw_kw=float(rng.uniform(0, 1.1) * budget),
                renewable_kw=float(rng.uniform(0, 150)),
                carbon_g_per_kwh=float(rng.uniform(20, 600)),
                price_per_kwh=float(rng.uniform(0.03, 0.3)),
                ready=bool(rng.random() > 0.05),
                cordoned=bool(rng.random() < 0.05),
                taints=(NodeTaint("dedicated", "batch", "NoSchedule"),)
                if rng.random() < 0.1
                else (),
            )
        )
    return nodes

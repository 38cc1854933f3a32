"""Synthetic fleets and deployments at any size, for the placement benchmarks.

Nodes sit around 48 real metro areas (jittered), in the three tiers, with the
GPU models, power budgets, renewables, grid carbon and prices drawn per region
and per node; a few are not Ready, cordoned or tainted, so every filter has
work to do. Deployments ask for a market's users (a few nearby metros), a
replica shape, an SLO and, sometimes, residency or edge-only privacy. Seeded,
so a benchmark run can be repeated.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import TIERS, FleetSnapshot, NodeTaint
from controlplane.scheduler import Demand, PlacementRequest

METROS: tuple[tuple[str, str, float, float], ...] = (  # region, country, lat, lon
    ("us-nyc", "US", 40.71, -74.01),
    ("us-bos", "US", 42.36, -71.06),
    ("us-was", "US", 38.91, -77.04),
    ("us-atl", "US", 33.75, -84.39),
    ("us-mia", "US", 25.76, -80.19),
    ("us-chi", "US", 41.88, -87.63),
    ("us-dfw", "US", 32.78, -96.80),
    ("us-hou", "US", 29.76, -95.37),
    ("us-den", "US", 39.74, -104.99),
    ("us-phx", "US", 33.45, -112.07),
    ("us-lax", "US", 34.05, -118.24),
    ("us-sfo", "US", 37.77, -122.42),
    ("us-sea", "US", 47.61, -122.33),
    ("ca-tor", "CA", 43.65, -79.38),
    ("ca-mtl", "CA", 45.50, -73.57),
    ("ca-van", "CA", 49.28, -123.12),
    ("mx-mex", "MX", 19.43, -99.13),
    ("br-sao", "BR", -23.55, -46.63),
    ("br-rio", "BR", -22.91, -43.17),
    ("ar-bue", "AR", -34.60, -58.38),
    ("cl-scl", "CL", -33.45, -70.67),
    ("gb-lon", "GB", 51.51, -0.13),
    ("gb-man", "GB", 53.48, -2.24),
    ("ie-dub", "IE", 53.35, -6.26),
    ("fr-par", "FR", 48.86, 2.35),
    ("fr-mrs", "FR", 43.30, 5.37),
    ("de-fra", "DE", 50.11, 8.68),
    ("de-ber", "DE", 52.52, 13.40),
    ("de-muc", "DE", 48.14, 11.58),
    ("nl-ams", "NL", 52.37, 4.90),
    ("be-bru", "BE", 50.85, 4.35),
    ("es-mad", "ES", 40.42, -3.70),
    ("it-mil", "IT", 45.46, 9.19),
    ("se-sto", "SE", 59.33, 18.07),
    ("no-osl", "NO", 59.91, 10.75),
    ("fi-hel", "FI", 60.17, 24.94),
    ("pl-waw", "PL", 52.23, 21.01),
    ("za-jnb", "ZA", -26.20, 28.05),
    ("ae-dxb", "AE", 25.20, 55.27),
    ("in-bom", "IN", 19.08, 72.88),
    ("in-del", "IN", 28.70, 77.10),
    ("sg-sin", "SG", 1.35, 103.82),
    ("jp-tyo", "JP", 35.68, 139.69),
    ("jp-osa", "JP", 34.69, 135.50),
    ("kr-sel", "KR", 37.57, 126.98),
    ("hk-hkg", "HK", 22.32, 114.17),
    ("au-syd", "AU", -33.87, 151.21),
    ("au-mel", "AU", -37.81, 144.96),
)
GPU_MODELS = ("H100", "A100", "L40S", "L4")
GPU_MEMORY_GB = np.array([80.0, 80.0, 48.0, 24.0])


def synthetic_snapshot(n_nodes: int, seed: int = 0) -> FleetSnapshot:
    """A fleet of `n_nodes` nodes around the metros above."""
    rng = np.random.default_rng(seed)
    metro = rng.integers(len(METROS), size=n_nodes)
    region = np.array([METROS[m][0] for m in metro], dtype="<U32")
    country = np.array([METROS[m][1] for m in metro], dtype="<U2")
    lat = np.array([METROS[m][2] for m in metro]) + rng.normal(0, 0.8, n_nodes)
    lon = np.array([METROS[m][3] for m in metro]) + rng.normal(0, 0.8, n_nodes)
    tier = rng.choice(len(TIERS), size=n_nodes, p=[0.5, 0.4, 0.1]).astype(np.int8)
    # edge: one small box; factory: a 2-4 MW site; cloud: a large region.
    budget_kw = np.choose(
        tier,
        [
            rng.uniform(5, 30, n_nodes),
            rng.uniform(2000, 4000, n_nodes),
            rng.uniform(4000, 8000, n_nodes),
        ],
    )
    gpus_total = np.zeros((n_nodes, len(GPU_MODELS)), np.int32)
    model = np.where(
        tier == 0,
        rng.choice([2, 3], size=n_nodes),
        rng.choice([0, 1, 2], size=n_nodes, p=[0.5, 0.3, 0.2]),
    )
    count = np.choose(
        tier,
        [
            rng.integers(1, 5, n_nodes),
            rng.integers(64, 512, n_nodes),
            rng.integers(256, 1024, n_nodes),
        ],
    )
    gpus_total[np.arange(n_nodes), model] = count
    gpus_free = (gpus_total * rng.uniform(0, 1, (n_nodes, 1))).astype(np.int32)
    memory = np.where(gpus_total > 0, GPU_MEMORY_GB, 0.0)
    it_draw_kw = budget_kw * rng.uniform(0.3, 1.0, n_nodes)
    region_carbon = rng.uniform(20, 700, len(METROS))
    region_price = rng.uniform(0.03, 0.30, len(METROS))
    renewable_kw = budget_kw * rng.uniform(0, 0.9, n_nodes) * (rng.random(n_nodes) < 0.6)
    tainted = np.flatnonzero(rng.random(n_nodes) < 0.03)
    return FleetSnapshot(
        names=np.array([f"node-{i:06d}" for i in range(n_nodes)], dtype="<U32"),
        ready=rng.random(n_nodes) > 0.02,
        unschedulable=rng.random(n_nodes) < 0.01,
        tier=tier,
        region=region,
        country=country,
        lat=np.clip(lat, -89, 89),
        lon=(lon + 180) % 360 - 180,
        gpu_models=GPU_MODELS,
        gpu_memory_gb=memory,
        gpus_total=gpus_total,
        gpus_free=gpus_free,
        budget_kw=budget_kw,
        it_draw_kw=it_draw_kw,
        renewable_kw=renewable_kw,
        carbon_g_per_kwh=region_carbon[metro] * rng.uniform(0.9, 1.1, n_nodes),
        price_per_kwh=region_price[metro] * rng.uniform(0.9, 1.1, n_nodes),
        taints={int(r): (NodeTaint("dedicated", "batch", "NoSchedule"),) for r in tainted},
        revision=1,
    )


def synthetic_requests(n: int, seed: int = 1) -> list[tuple[PlacementRequest, int]]:
    """`n` deployments with the number of replicas each asks for (1-8)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        home = METROS[rng.integers(len(METROS))]
        near = sorted(METROS, key=lambda m: (m[2] - home[2]) ** 2 + (m[3] - home[3]) ** 2)
        points = near[: int(rng.integers(1, 6))]
        demand = tuple(Demand(m[0], float(rng.uniform(0.5, 3)), m[2], m[3]) for m in points)
        edge_only = rng.random() < 0.05
        model = int(rng.choice([2, 3])) if edge_only else int(rng.choice(4))
        request = PlacementRequest(
            deployment=f"deploy-{i}",
            gpus=1 if edge_only else int(rng.choice([1, 2, 4, 8])),
            gpu_model=GPU_MODELS[model],
            gpu_memory_gb=float(GPU_MEMORY_GB[model]),
            power_kw=float(rng.uniform(0.5, 10)),
            demand=demand,
            latency_slo_ms=float(rng.uniform(20, 80)) if rng.random() < 0.8 else None,
            countries=(home[1],) if rng.random() < 0.1 else (),
            edge_only=edge_only,
        )
        out.append((request, int(rng.integers(1, 9))))
    return out

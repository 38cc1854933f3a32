"""The placement-quality benchmark's references against brute force on a hand-sized instance.

`benchmarks/quality_limit.py` holds the exact limit (most demand within the SLO,
then least carbon) and the p-median proximity baseline that
`benchmarks/placement_quality.py` measures the scheduler against; if either were
wrong, every share of the achievable cut it prints would be wrong too.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip(
    "scipy", reason="scipy (HiGHS) is in the dev and bench extras: pip install -e .[dev]"
)


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "quality_limit.py"
    spec = importlib.util.spec_from_file_location("quality_limit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


q = _load()

# 3 sites, 4 demand points. Site 0 is near points 0 and 1 but dirty; site 1 is
# clean and near point 2 only; site 2 is middling everywhere and cleanest per replica
# after site 1. RTT ms, rows are sites.
RTT_MS = np.array(
    [
        [10.0, 20.0, 180.0, 140.0],
        [160.0, 170.0, 15.0, 120.0],
        [90.0, 110.0, 95.0, 60.0],
    ]
)
WEIGHT = np.array([4.0, 3.0, 2.0, 1.0])
INTENSITY = np.array([500.0, 50.0, 200.0])  # gCO2/kWh
POWER_KW = 10.0


def placements(capacity: np.ndarray, replicas: int, min_sites: int) -> list[np.ndarray]:
    out = []
    for x in itertools.product(*(range(int(c) + 1) for c in capacity)):
        arr = np.array(x)
        if arr.sum() == replicas and np.count_nonzero(arr) >= min_sites:
            out.append(arr)
    return out


def brute_limit(capacity: np.ndarray, replicas: int, min_sites: int, slo_ms: float):
    best = None
    for x in placements(capacity, replicas, min_sites):
        key = (-q.attainment(RTT_MS, WEIGHT, x, slo_ms), q.carbon_g_per_h(x, INTENSITY, POWER_KW))
        if best is None or key < best:
            best = key
    return -best[0], best[1]


def brute_p_median(capacity: np.ndarray, replicas: int, min_sites: int) -> float:
    return min(q.mean_rtt_ms(RTT_MS, WEIGHT, x) for x in placements(capacity, replicas, min_sites))


CASES = [
    # capacity, replicas, min_sites, slo_ms
    (np.array([2, 2, 2]), 2, 1, 100.0),
    (np.array([2, 2, 2]), 3, 1, 100.0),
    (np.array([1, 3, 2]), 4, 1, 50.0),
    (np.array([3, 1, 3]), 4, 2, 150.0),
    (np.array([2, 2, 2]), 2, 2, 30.0),
    (np.array([3, 3, 0]), 3, 1, 200.0),
]


@pytest.mark.parametrize(("capacity", "replicas", "min_sites", "slo_ms"), CASES)
def test_limit_is_most_coverage_then_least_carbon(capacity, replicas, min_sites, slo_ms) -> None:
    inst = q.Instance(RTT_MS, WEIGHT, capacity, replicas, min_sites)
    got = q.limit(inst, slo_ms, POWER_KW * INTENSITY)
    want_attainment, want_carbon = brute_limit(capacity, replicas, min_sites, slo_ms)

    assert got.replicas.sum() == replicas
    assert np.all(got.replicas <= capacity)
    assert np.count_nonzero(got.replicas) >= min_sites
    assert q.attainment(RTT_MS, WEIGHT, got.replicas, slo_ms) == pytest.approx(want_attainment)
    assert got.covered_share == pytest.approx(want_attainment)
    assert q.carbon_g_per_h(got.replicas, INTENSITY, POWER_KW) == pytest.approx(want_carbon)


def test_limit_covers_the_dirty_site_before_it_saves_carbon() -> None:
    """At 100 ms only site 0 reaches points 0 and 1 (70% of demand): the limit pays for it."""
    inst = q.Instance(RTT_MS, WEIGHT, np.array([2, 2, 2]), 2)
    got = q.limit(inst, 100.0, POWER_KW * INTENSITY)
    assert got.replicas.tolist() == [1, 0, 1]  # site 2 covers points 2 and 3 at 95 and 60 ms
    assert q.attainment(RTT_MS, WEIGHT, got.replicas, 100.0) == 1.0


@pytest.mark.parametrize(("capacity", "replicas", "min_sites", "slo_ms"), CASES)
def test_p_median_is_least_weighted_rtt(capacity, replicas, min_sites, slo_ms) -> None:
    inst = q.Instance(RTT_MS, WEIGHT, capacity, replicas, min_sites)
    got = q.p_median(inst)

    assert got.sum() == replicas
    assert np.all(got <= capacity)
    assert q.mean_rtt_ms(RTT_MS, WEIGHT, got) == pytest.approx(
        brute_p_median(capacity, replicas, min_sites)
    )
    assert np.count_nonzero(got) == min(replicas, np.count_nonzero(capacity))  # spread


def test_too_little_capacity_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="replicas"):
        q.Instance(RTT_MS, WEIGHT, np.array([1, 1, 1]), 4)

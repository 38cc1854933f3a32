"""Facility location on hand-made instances: coverage first, then energy, then RTT."""

from __future__ import annotations

import itertools

import numpy as np

from controlplane.scheduler import facility
from controlplane.scheduler.facility import Objective, Problem

INF = np.inf


def problem(
    covers: list[list[int]],
    cost: list[float],
    n_new: int,
    *,
    capacity: int | None = None,
    weight: list[float] | None = None,
    rtt: list[list[float]] | None = None,
    **kw: object,
) -> Problem:
    c = np.array(covers, dtype=bool)
    k = n_new if capacity is None else capacity
    slots = np.repeat(np.array(cost, dtype=float)[:, None], max(1, n_new), axis=1)
    slots[:, k:] = INF
    w = np.array(weight or [1.0] * c.shape[1])
    r = np.array(rtt) if rtt is not None else np.where(c, 10.0, 100.0)
    return Problem(covers=c, rtt_ms=r, weight=w / w.sum(), cost=slots, n_new=n_new, **kw)  # type: ignore[arg-type]


def solve(p: Problem) -> facility.Solution:
    return facility.solve(p, np.random.default_rng(0))


def test_serves_every_coverable_point_before_saving_energy() -> None:
    # One dirty site reaches all three points; two clean ones reach two and one.
    p = problem([[1, 1, 1], [1, 1, 0], [0, 0, 1]], cost=[900, 10, 20], n_new=1)
    assert solve(p).counts.tolist() == [1, 0, 0]  # one replica: coverage decides
    two = solve(problem([[1, 1, 1], [1, 1, 0], [0, 0, 1]], cost=[900, 10, 20], n_new=2))
    # Greedy starts on the dirty site; a swap finds that the clean pair covers as much.
    assert two.counts.tolist() == [0, 1, 1]
    assert two.objective == Objective(0.0, 30.0, 10.0)


def test_points_no_candidate_reaches_do_not_count_against_a_placement() -> None:
    p = problem([[1, 0], [1, 0]], cost=[50, 5], n_new=1)
    solution = solve(p)
    assert solution.counts.tolist() == [0, 1]
    assert solution.objective.uncovered == 0.0  # point 2 is beyond any placement


def test_extra_replicas_go_to_the_cheapest_room_and_respect_capacity() -> None:
    p = problem([[1, 1], [1, 1], [1, 1]], cost=[30, 10, 20], n_new=5, capacity=2)
    assert solve(p).counts.tolist() == [1, 2, 2]
    full = solve(problem([[1], [1]], cost=[1, 2], n_new=5, capacity=2))
    assert full.placed == 4  # the fifth has no room anywhere


def test_rtt_breaks_ties_between_equal_cost_placements() -> None:
    p = problem([[1, 1], [1, 1]], cost=[10, 10], n_new=1, rtt=[[30, 30], [5, 5]])
    assert solve(p).counts.tolist() == [0, 1]


def test_min_sites_spreads_replicas_over_distinct_nodes() -> None:
    cheap_first = problem([[1], [1], [1]], cost=[1, 5, 9], n_new=3)
    assert solve(cheap_first).counts.tolist() == [3, 0, 0]
    spread = problem([[1], [1], [1]], cost=[1, 5, 9], n_new=3, min_sites=2)
    assert solve(spread).counts.tolist() == [2, 1, 0]
    kept = problem(
        [[1], [1], [1]],
        cost=[1, 5, 9],
        n_new=1,
        min_sites=2,
        fixed_on=np.array([True, False, False]),
        fixed_sites=1,
        fixed_count=np.array([1]),
        fixed_rtt_ms=np.array([10.0]),
    )
    assert solve(kept).counts.tolist() == [0, 1, 0]  # a kept replica already holds node 0


def test_kept_replicas_serve_as_they_are() -> None:
    p = problem(
        [[1, 0], [0, 1]],
        cost=[1, 50],
        n_new=1,
        fixed_count=np.array([1, 0]),
        fixed_rtt_ms=np.array([10.0, INF]),
    )
    assert solve(p).counts.tolist() == [0, 1]  # point 1 is already served


def test_local_search_matches_brute_force_on_small_instances() -> None:
    rng = np.random.default_rng(3)
    for _ in range(40):
        c, d, n = int(rng.integers(2, 7)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
        covers = rng.random((c, d)) < 0.4
        cost = rng.uniform(1, 100, c).round(1)
        p = problem(
            covers.astype(int).tolist(),
            cost.tolist(),
            n,
            capacity=1,
            weight=rng.uniform(0.1, 1, d).tolist(),
        )
        best = min(
            (
                facility.evaluate(p, np.bincount(np.array(pick), minlength=c).astype(np.int32))
                for pick in itertools.combinations(range(c), min(n, c))
            ),
            key=lambda o: (round(o.uncovered, 9), o.energy),
        )
        got = solve(p).objective
        assert got.uncovered <= best.uncovered + 1e-9
        assert got.energy <= best.energy * 1.25 + 1e-9


def test_reduce_keeps_the_cheapest_of_each_reach() -> None:
    covers = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=bool)
    rtt = np.full(covers.shape, 10.0, np.float32)
    kept = facility.reduce_candidates(covers, rtt, np.array([5.0, 1.0, 3.0, 9.0]), 2)
    assert kept.tolist() == [1, 2, 3]


def test_improve_makes_only_accepted_swaps_and_drop_order_keeps_coverage() -> None:
    p = problem([[1, 1], [1, 1], [0, 1]], cost=[50, 10, 1], n_new=2)
    counts = np.array([1, 0, 1], np.int32)
    never = facility.improve(p, counts, np.random.default_rng(0), lambda *_: False, 5)
    assert never[1] == []
    always = facility.improve(p, counts, np.random.default_rng(0), facility._better, 5)
    assert always[1] == [(0, 1)] and always[0].counts.tolist() == [0, 1, 1]
    assert facility.drop_order(p, np.array([1, 1, 1], np.int32), 2) == [0, 2]

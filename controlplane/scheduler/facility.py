"""Facility location: which feasible nodes take a deployment's new replicas, and whom each serves.

A user means by proximity that *their* requests are served by a replica near
*them*. So each demand point is served by its nearest replica, and a placement
is judged lexicographically, in physical units, in this order:

1. **uncovered**: the share of demand whose nearest replica is beyond the SLO,
   counting only the points that some candidate or running replica could
   serve within it (the others are beyond any placement);
2. **energy**: the summed cost per hour of the new replicas (gCO2/h by default,
   see `scores/energy.py`);
3. **rtt**: the demand-weighted RTT from each point to its nearest replica.

Solving this exactly is a MILP (the benchmark's limit, `benchmarks/
placement_quality.py`). Here: candidates are first reduced without losing
what matters (nodes that reach the same demand points keep only their
cheapest few; a very large remainder keeps, per demand point, its cheapest and
its nearest reachers), then a greedy start (add the replica that improves the
objective most) is improved by swaps (move one replica to any candidate
while that improves the objective) until none does. Every step is a couple of
(candidates x demand points) array operations.

Running replicas the caller keeps are fixed: they cover and serve as they are.
`min_sites` asks the replicas, kept and new, to span that many distinct nodes;
it is a hard constraint, so a replica that would break it is not placed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from controlplane.inventory.snapshot import BoolArray, FloatArray, IntArray

Float32Array = npt.NDArray[np.float32]
Positions = npt.NDArray[np.intp]

COVER_TOLERANCE = 1e-9  # demand share
COST_TOLERANCE = 1e-9  # relative
RTT_TOLERANCE_MS = 1e-3
MAX_CANDIDATES = 256
MAX_SWAP_PASSES = 8


@dataclass(frozen=True)
class Problem:
    """One deployment's new replicas over C candidate nodes and D demand points."""

    covers: BoolArray  # (C, D) the candidate reaches the point within the SLO
    rtt_ms: Float32Array  # (C, D)
    weight: FloatArray  # (D,) share of demand per point, summing to 1 (or all 0)
    cost: FloatArray  # (C, K) cost per hour of the k-th new replica on c; inf past capacity
    n_new: int
    min_sites: int = 1
    fixed_count: IntArray | None = None  # (D,) kept replicas that reach each point within SLO
    fixed_rtt_ms: FloatArray | None = None  # (D,) RTT of the nearest kept replica, inf if none
    fixed_on: BoolArray | None = None  # (C,) the candidate already runs a kept replica
    fixed_sites: int = 0  # distinct nodes of the kept replicas

    @property
    def n_candidates(self) -> int:
        return int(self.covers.shape[0])


@dataclass(frozen=True, order=True)
class Objective:
    """The lexicographic objective of a placement; compare with `better_than`."""

    uncovered: float
    energy: float
    rtt_ms: float

    def better_than(self, other: Objective) -> bool:
        if self.uncovered < other.uncovered - COVER_TOLERANCE:
            return True
        if self.uncovered > other.uncovered + COVER_TOLERANCE:
            return False
        scale = COST_TOLERANCE * max(1.0, abs(other.energy))
        if self.energy < other.energy - scale:
            return True
        if self.energy > other.energy + scale:
            return False
        return self.rtt_ms < other.rtt_ms - RTT_TOLERANCE_MS


@dataclass(frozen=True)
class Solution:
    counts: IntArray  # (C,) new replicas on each candidate
    objective: Objective

    @property
    def placed(self) -> int:
        return int(self.counts.sum())


class _State:
    """A placement being improved: replicas per candidate and what they cover and cost."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        c, d = p.covers.shape
        self.covers_f = p.covers.astype(np.float64)
        self.fixed_count = p.fixed_count if p.fixed_count is not None else np.zeros(d, np.int32)
        self.fixed_rtt = (
            p.fixed_rtt_ms if p.fixed_rtt_ms is not None else np.full(d, np.inf, np.float32)
        ).astype(np.float32)
        self.fixed_on = p.fixed_on if p.fixed_on is not None else np.zeros(c, np.bool_)
        self.coverable = p.covers.any(axis=0) | (self.fixed_count > 0)
        self.weight = np.where(self.coverable, p.weight, 0.0)
        self.own_rtt = p.rtt_ms @ p.weight
        self.counts = np.zeros(c, np.int32)
        self.cover_count = self.fixed_count.astype(np.int32).copy()
        self.energy = 0.0
        self.k = p.cost.shape[1]

    def next_cost(self) -> FloatArray:
        """Cost per hour of one more replica on every candidate (inf where full)."""
        room = self.counts < self.k
        out = np.full(len(self.counts), np.inf)
        idx = np.flatnonzero(room)
        out[idx] = self.p.cost[idx, self.counts[idx]]
        return out

    def best_rtt(self) -> Float32Array:
        """RTT from each point to its nearest replica, kept or new (inf if none)."""
        rows = np.flatnonzero(self.counts > 0)
        if len(rows) == 0:
            return self.fixed_rtt
        return np.minimum(self.fixed_rtt, self.p.rtt_ms[rows].min(axis=0))

    def sites(self) -> int:
        return self.p.fixed_sites + int(np.count_nonzero((self.counts > 0) & ~self.fixed_on))

    def objective(self) -> Objective:
        uncovered = float(self.weight @ (self.cover_count == 0))
        rtt = self.best_rtt()
        served = np.isfinite(rtt)
        mean = float(self.p.weight[served] @ rtt[served]) if served.any() else 0.0
        return Objective(uncovered, self.energy, mean)

    def add(self, c: int) -> None:
        self.energy += float(self.p.cost[c, self.counts[c]])
        if self.counts[c] == 0:
            self.cover_count += self.p.covers[c]
        self.counts[c] += 1

    def remove(self, c: int) -> None:
        self.counts[c] -= 1
        self.energy -= float(self.p.cost[c, self.counts[c]])
        if self.counts[c] == 0:
            self.cover_count -= self.p.covers[c]

    def options(self, sites_needed: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The objective after adding one replica on each candidate: (uncovered, energy, rtt)."""
        uncovered_now = (self.cover_count == 0) & self.coverable
        gain = self.covers_f @ (self.weight * uncovered_now)
        uncovered = float(self.weight @ uncovered_now) - gain
        energy = self.energy + self.next_cost()
        best = self.best_rtt()
        rtt = np.minimum(self.p.rtt_ms, best) @ self.p.weight
        new_site = (self.counts == 0) & ~self.fixed_on
        allowed = np.isfinite(energy) & (self.sites() + new_site >= sites_needed)
        return np.where(allowed, uncovered, np.inf), energy, rtt


def _lexi_best(
    uncovered: FloatArray,
    energy: FloatArray,
    rtt: FloatArray,
    rng: np.random.Generator,
    own_rtt: FloatArray | None = None,
) -> int | None:
    """Position of the lexicographically least option; None if none is finite.

    Exact ties go to the candidate nearest the demand on its own (`own_rtt`),
    so that spare replicas stay close to users, then to `rng`.
    """
    if not np.isfinite(uncovered).any():
        return None
    ok = uncovered <= uncovered.min() + COVER_TOLERANCE
    e = np.where(ok, energy, np.inf)
    lo = e.min()
    ok &= e <= lo + COST_TOLERANCE * max(1.0, abs(lo))
    t = np.where(ok, rtt, np.inf)
    ok &= t <= t.min() + RTT_TOLERANCE_MS
    if own_rtt is not None:
        o = np.where(ok, own_rtt, np.inf)
        ok &= o <= o.min() + RTT_TOLERANCE_MS
    ties = np.flatnonzero(ok)
    return int(ties[0]) if len(ties) == 1 else int(ties[rng.integers(len(ties))])


def _greedy(state: _State, rng: np.random.Generator, *, per_cost: bool) -> None:
    """Add replicas one at a time: the most demand newly served (`per_cost`: per unit of cost)."""
    p = state.p
    for step in range(p.n_new):
        left = p.n_new - step
        # Reserve the steps that min_sites still needs: take a new site when they run out.
        needed = p.min_sites - left + 1
        uncovered, energy, rtt = state.options(needed)
        if per_cost:
            gain = np.where(np.isfinite(uncovered), state.objective().uncovered - uncovered, 0.0)
            added = np.maximum(np.nan_to_num(energy - state.energy, posinf=1.0), 1e-12)
            useful = gain > COVER_TOLERANCE
            if useful.any():
                uncovered = np.where(useful, -gain / added, np.inf)
        best = _lexi_best(uncovered, energy, rtt, rng, state.own_rtt)
        if best is None:
            return
        state.add(best)


Accept = Callable[[Objective, Objective, int, int], bool]


def _better(new: Objective, current: Objective, leaves: int, to: int) -> bool:
    return new.better_than(current)


def _swaps(
    state: _State, rng: np.random.Generator, accept: Accept = _better, max_swaps: int | None = None
) -> list[tuple[int, int]]:
    """Move one replica at a time to wherever the objective improves most, until none does.

    `accept(new, current, leaves, to)` decides whether the best move found, of a
    replica from candidate `leaves` to candidate `to`, is worth
    making; returns the moves made, (from candidate, to candidate), in order.
    """
    p = state.p
    floor = min(p.min_sites, state.sites())
    moves: list[tuple[int, int]] = []
    for _ in range(MAX_SWAP_PASSES):
        improved = False
        held = np.flatnonzero(state.counts > 0)
        dearest_first = held[np.argsort(-p.cost[held, state.counts[held] - 1], kind="stable")]
        for c in dearest_first:
            if state.counts[c] == 0 or (max_swaps is not None and len(moves) >= max_swaps):
                continue
            current = state.objective()
            state.remove(int(c))
            uncovered, energy, rtt = state.options(floor)
            uncovered[c] = np.inf  # staying is not a move
            best = _lexi_best(uncovered, energy, rtt, rng, state.own_rtt)
            new = (
                Objective(float(uncovered[best]), float(energy[best]), float(rtt[best]))
                if best is not None
                else None
            )
            if best is not None and new is not None and accept(new, current, int(c), best):
                state.add(best)
                moves.append((int(c), best))
                improved = True
            else:
                state.add(int(c))
        if not improved:
            break
    return moves


def solve(problem: Problem, rng: np.random.Generator) -> Solution:
    """New replicas per candidate: the better of two greedy starts, each improved by swaps.

    One start serves the most demand first, the other the most demand per unit
    of cost; swaps from each reach different local optima, and the better wins.
    For a single new replica (re-placing a lost one) the first greedy step is
    already the optimum.
    """
    best: Solution | None = None
    starts = (False,) if problem.n_new == 1 else (False, True)  # one replica: greedy is exact
    for per_cost in starts:
        state = _State(problem)
        if problem.n_new > 0 and problem.n_candidates > 0:
            _greedy(state, rng, per_cost=per_cost)
            if problem.n_new > 1:
                _swaps(state, rng)
        found = Solution(state.counts.copy(), state.objective())
        if best is None or found.objective.better_than(best.objective):
            best = found
    assert best is not None
    return best


def _state_at(problem: Problem, counts: IntArray) -> _State:
    state = _State(problem)
    for c in np.flatnonzero(counts):
        for _ in range(int(counts[c])):
            state.add(int(c))
    return state


def evaluate(problem: Problem, counts: IntArray) -> Objective:
    """The objective of a given placement (replicas per candidate)."""
    return _state_at(problem, counts).objective()


def improve(
    problem: Problem,
    counts: IntArray,
    rng: np.random.Generator,
    accept: Accept,
    max_swaps: int,
) -> tuple[Solution, list[tuple[int, int]]]:
    """Swaps from the placement `counts` that `accept` finds worth it: re-planning's search."""
    state = _state_at(problem, counts)
    moves = _swaps(state, rng, accept, max_swaps)
    return Solution(state.counts.copy(), state.objective()), moves


def drop_order(problem: Problem, counts: IntArray, n: int) -> list[int]:
    """Candidates to take `n` replicas from, one at a time, each leaving the best objective."""
    state = _state_at(problem, counts)
    order: list[int] = []
    for _ in range(min(n, int(counts.sum()))):
        best: tuple[Objective, int] | None = None
        for c in np.flatnonzero(state.counts > 0):
            state.remove(int(c))
            after = state.objective()
            state.add(int(c))
            if best is None or after.better_than(best[0]):
                best = (after, int(c))
        assert best is not None
        state.remove(best[1])
        order.append(best[1])
    return order


def reduce_candidates(
    covers: BoolArray, rtt_ms: Float32Array, cost0: FloatArray, keep_per_group: int
) -> Positions:
    """Positions of the candidates worth searching, cheapest first within each reach.

    Candidates that reach exactly the same demand points within the SLO differ
    only in cost and RTT, so each such group keeps its `keep_per_group`
    cheapest (then nearest). If more than MAX_CANDIDATES remain, each demand
    point keeps its cheapest reachers and its nearest candidates, and the
    fleet its cheapest.
    """
    n = len(cost0)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    mean_rtt = rtt_ms.mean(axis=1) if rtt_ms.shape[1] else np.zeros(n, np.float32)
    if covers.shape[1]:
        packed = np.ascontiguousarray(np.packbits(covers, axis=1))
        _, group = np.unique(
            packed.view(np.dtype((np.void, packed.shape[1]))).ravel(), return_inverse=True
        )
        group = group.ravel()
    else:
        group = np.zeros(n, dtype=np.intp)
    order = np.lexsort((mean_rtt, cost0, group))
    g = group[order]
    first = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    rank = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
    kept = np.sort(order[rank < keep_per_group])
    if len(kept) <= MAX_CANDIDATES:
        return kept
    return kept[_representatives(covers[kept], rtt_ms[kept], cost0[kept], keep_per_group)]


def _representatives(
    covers: BoolArray, rtt_ms: Float32Array, cost0: FloatArray, keep: int
) -> Positions:
    """Each demand point's cheapest reacher and its nearest candidate, and the cheapest overall."""
    chosen = np.zeros(len(cost0), dtype=np.bool_)
    chosen[np.argsort(cost0, kind="stable")[:keep]] = True
    if covers.shape[1]:
        reachable = covers.any(axis=0)
        cheapest = np.argmin(np.where(covers, cost0[:, None], np.inf), axis=0)
        chosen[cheapest[reachable]] = True
        chosen[np.argmin(rtt_ms, axis=0)] = True
    return np.flatnonzero(chosen)

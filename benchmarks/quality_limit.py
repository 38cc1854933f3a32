"""Exact references for placement quality: the coverage-then-carbon limit and the p-median.

Pure functions over plain arrays (NumPy in, NumPy out; scipy's HiGHS via
`scipy.optimize.milp`), so a test can check them against brute force on a
hand-sized instance. An instance is S sites, M demand points and R replicas:

- `rtt_ms[s, m]`: measured RTT from site s to demand point m;
- `weight[m]`: the point's share of demand (any positive scale);
- `capacity[s]`: how many replicas site s can host (free GPUs and power headroom);
- a placement is `replicas[s]`, replicas per site, summing to R.

A demand point is served by its nearest chosen site (a replica serves anyone;
there is no per-replica serving capacity here), so a point is *covered* at an
SLO when some chosen site is within it. Every method is judged by the same
`attainment` and `carbon_g_per_h`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_REL_TOL = 1e-7  # how far a later stage may give up an earlier stage's optimum


@dataclass(frozen=True)
class Instance:
    """Where replicas may go and whom they serve."""

    rtt_ms: FloatArray  # (S, M)
    weight: FloatArray  # (M,)
    capacity: IntArray  # (S,) replicas each site can host
    replicas: int
    min_sites: int = 1

    def __post_init__(self) -> None:
        s, m = self.rtt_ms.shape
        if self.weight.shape != (m,) or self.capacity.shape != (s,):
            raise ValueError(
                f"shapes: rtt_ms {self.rtt_ms.shape}, weight {self.weight.shape}, "
                f"capacity {self.capacity.shape}"
            )
        if int(self.capacity.sum()) < self.replicas:
            raise ValueError(f"replicas: {self.replicas} > total capacity {self.capacity.sum()}")
        if int(np.count_nonzero(self.capacity)) < self.min_sites:
            raise ValueError(f"min_sites: {self.min_sites} > sites with capacity")


# --- evaluation: the same for every method ------------------------------------------------


def nearest_rtt_ms(rtt_ms: FloatArray, replicas: IntArray) -> FloatArray:
    """Each demand point's RTT to its nearest chosen site, (M,); inf if none is chosen."""
    chosen = np.asarray(replicas) > 0
    if not chosen.any():
        return np.full(rtt_ms.shape[1], np.inf)
    return np.asarray(rtt_ms[chosen].min(axis=0), dtype=np.float64)


def attainment(rtt_ms: FloatArray, weight: FloatArray, replicas: IntArray, slo_ms: float) -> float:
    """Share of demand weight whose nearest chosen site is within the SLO."""
    within = nearest_rtt_ms(rtt_ms, replicas) <= slo_ms
    return float(weight[within].sum() / weight.sum())


def mean_rtt_ms(rtt_ms: FloatArray, weight: FloatArray, replicas: IntArray) -> float:
    """Demand-weighted RTT to the nearest chosen site."""
    return float(np.dot(weight, nearest_rtt_ms(rtt_ms, replicas)) / weight.sum())


def carbon_g_per_h(replicas: IntArray, intensity_g_per_kwh: FloatArray, power_kw: float) -> float:
    """gCO2 an hour of the replicas' draw: replicas x kW x the site's grid intensity."""
    return float(power_kw * np.dot(np.asarray(replicas, np.float64), intensity_g_per_kwh))


# --- the MILPs ----------------------------------------------------------------------------


class _Model:
    """Columns [x (S, integer replicas), y (S, binary open), extra...] and sparse rows."""

    def __init__(self, inst: Instance, n_extra: int) -> None:
        self.s = len(inst.capacity)
        self.n = 2 * self.s + n_extra
        self.lb, self.ub = np.zeros(self.n), np.ones(self.n)
        self.ub[: self.s] = inst.capacity
        self.integrality = np.zeros(self.n)
        self.integrality[: 2 * self.s] = 1
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[FloatArray] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        x, y = np.arange(self.s), self.s + np.arange(self.s)
        self.add([x], [np.ones(self.s)], inst.replicas, inst.replicas)  # sum x = R
        self.add([y], [np.ones(self.s)], inst.min_sites, np.inf)  # spread
        for k in range(self.s):  # y <= x <= capacity * y
            self.add([[x[k]], [y[k]]], [[1.0], [-1.0]], 0.0, np.inf)
            self.add([[x[k]], [y[k]]], [[1.0], [-float(inst.capacity[k])]], -np.inf, 0.0)

    def add(self, cols: list, vals: list, lo: float, hi: float) -> None:
        c = np.concatenate([np.asarray(a, np.int64).ravel() for a in cols])
        v = np.concatenate([np.asarray(a, np.float64).ravel() for a in vals])
        self.rows.append(np.full(len(c), len(self.lo)))
        self.cols.append(c)
        self.vals.append(v)
        self.lo.append(lo)
        self.hi.append(hi)

    def solve(self, cost: FloatArray, what: str) -> FloatArray:
        a = coo_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(len(self.lo), self.n),
        ).tocsr()
        res = milp(
            cost,
            integrality=self.integrality,
            bounds=Bounds(self.lb, self.ub),
            constraints=LinearConstraint(a, np.array(self.lo), np.array(self.hi)),
            options={"mip_rel_gap": 1e-9, "time_limit": 60},
        )
        if res.x is None or res.status != 0:
            raise RuntimeError(f"{what}: HiGHS found no optimum ({res.message})")
        return np.asarray(res.x)


def _floor(value: float) -> float:
    return value - _REL_TOL * max(1.0, abs(value))


@dataclass(frozen=True)
class Limit:
    replicas: IntArray  # (S,)
    covered_share: float  # share of demand weight within the SLO (the stage-1 optimum)
    cost: float  # sum of replicas x cost_per_replica (the stage-2 optimum)


def limit(inst: Instance, slo_ms: float, cost_per_replica: FloatArray) -> Limit:
    """Lexicographic MILP: most demand weight within the SLO, then least replica cost.

    Stage 1 maximises the weight of covered points (covered iff a chosen site is
    within the SLO) over R replicas within site capacities on at least
    `min_sites` sites; stage 2 keeps that coverage and minimises the sum of
    `cost_per_replica` (gCO2/h of one replica's draw at each site).
    """
    s, m = inst.rtt_ms.shape
    weight = inst.weight / inst.weight.sum()  # shares: well-scaled for HiGHS
    model = _Model(inst, m)  # extra columns: c[m], covered
    model.integrality[2 * s :] = 1  # binary: HiGHS mis-solved stage 2 with c continuous
    reach = inst.rtt_ms <= slo_ms
    for j in range(m):  # c_m <= sum of y over sites within the SLO of m
        sites = np.flatnonzero(reach[:, j])
        model.add([[2 * s + j], s + sites], [[1.0], -np.ones(len(sites))], -np.inf, 0.0)
    cover = np.zeros(model.n)
    cover[2 * s :] = -weight
    best = -float(cover @ model.solve(cover, "coverage limit"))
    model.add([2 * s + np.arange(m)], [weight], _floor(best), np.inf)
    carbon = np.zeros(model.n)
    carbon[:s] = cost_per_replica
    x = model.solve(carbon, "carbon limit")
    replicas = np.rint(x[:s]).astype(np.int64)
    got = attainment(inst.rtt_ms, weight, replicas, slo_ms)
    if got < best - 1e-6:
        raise RuntimeError(f"carbon limit: coverage {got} below stage 1's {best}")
    return Limit(replicas, best, float(np.dot(cost_per_replica, replicas)))


def p_median(inst: Instance) -> IntArray:
    """The proximity baseline: R replicas at the least demand-weighted RTT, carbon-blind.

    Stage 1 minimises the demand-weighted RTT of each point to its nearest chosen
    site; stage 2 keeps it and opens as many distinct sites as it can (replicas
    spread over failure domains, as a proximity scheduler with a spread rule
    would), so with R <= S every replica has a site of its own.
    """
    s, m = inst.rtt_ms.shape
    model = _Model(inst, s * m)  # extra columns: z[s, m], point m served by site s
    z = 2 * s + np.arange(s * m).reshape(s, m)
    for j in range(m):  # every point served once
        model.add([z[:, j]], [np.ones(s)], 1.0, 1.0)
    for k in range(s):  # only by an open site
        for j in range(m):
            model.add([[z[k, j]], [s + k]], [[1.0], [-1.0]], -np.inf, 0.0)
    rtt = np.zeros(model.n)
    rtt[2 * s :] = (inst.rtt_ms * (inst.weight / inst.weight.sum())[None, :]).ravel()
    best = float(rtt @ model.solve(rtt, "p-median"))
    model.add([z.ravel()], [rtt[2 * s :]], -np.inf, best * (1 + _REL_TOL) + _REL_TOL)
    spread = np.zeros(model.n)
    spread[s : 2 * s] = -1.0
    x = model.solve(spread, "p-median spread")
    replicas = np.rint(x[:s]).astype(np.int64)
    got = mean_rtt_ms(inst.rtt_ms, inst.weight, replicas)
    if got > best * (1 + 1e-6) + 1e-6:
        raise RuntimeError(f"p-median: mean RTT {got} ms above stage 1's {best} ms")
    return replicas

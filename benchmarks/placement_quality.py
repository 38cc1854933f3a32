"""Placement quality: a day of real grid carbon and prices, tokenplane against baselines and a MILP.

Run: `.venv/bin/python benchmarks/placement_quality.py [--day 2023-04-18]` (needs
scipy and matplotlib). Fourteen inference sites stand in real places on nine
grid zones whose hourly carbon intensity (Electricity Maps, direct emissions)
and wholesale prices for 2023 come from ../shared/data; GB has no price file,
so GB sites pay DE-LU prices (a coupled north-west European market). Seven
deployments serve markets of real cities; each market's token rate is the Azure
LLM inference trace's hour (conversation or code) scaled per market and shaped
over the day by each city's local time, and its replica count follows it. Some
sites have large on-site solar (clear-sky solar geometry: a model, not data),
and one suffers a curtailment. Each hour every method re-plans:

- proximity only: the scheduler with the latency score alone;
- energy only: carbon, renewable and price scores, no latency score or SLO;
- least allocated: like the Kubernetes default, the node with most room left;
- tokenplane: the default policy, incrementally (`replan` with hysteresis, then
  scale up with `place` or down with `scale_down`);
- tokenplane, fresh: the same policy placing every replica anew each hour;
- MILP optimum: the same objective solved exactly each hour (scipy's HiGHS).

Reported: gCO2 per million tokens (emissions the replicas add to each site's
grid draw), the share of tokens served within their market's SLO (each city
routed to its nearest replica), the p95 RTT, replica moves, power-budget
violations, and each plan's value of tokenplane's objective. Tables are
markdown; the plot goes to docs/placement_quality.png.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np

from controlplane.inventory.snapshot import TIERS, BoolArray, FleetSnapshot, FloatArray
from controlplane.scheduler import (
    DEFAULT_CHAIN,
    Better,
    Chain,
    DeploymentReplicas,
    FleetIndex,
    FleetState,
    PlacementContext,
    PlacementRequest,
    RunningReplica,
    Unschedulable,
    place,
    replan,
    scale_down,
)
from controlplane.scheduler.framework import min_max, normalise
from controlplane.scheduler.geo import great_circle_km, rtt_ms_from_km
from controlplane.scheduler.pipeline import Evaluator, build_context
from controlplane.scheduler.request import DEFAULT_POLICY, Demand, weights_from_policy

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data"
PLOT = REPO / "docs" / "placement_quality.png"

GPUS_PER_REPLICA = 8  # 8 x H100 80 GB per replica
POWER_KW = 10.2  # a DGX H100's maximum draw
TOKENS_PER_S_PER_REPLICA = 20_000.0  # prompt + generated tokens, a 70B model on 8 x H100
MIN_REPLICAS = 2
MAX_MOVES_PER_HOUR = 10
HOURS = 24


@dataclass(frozen=True)
class Site:
    name: str
    zone: str  # grid zone of its carbon and price series
    region: str
    country: str
    lat: float
    lon: float
    budget_kw: float
    pv_kw: float  # on-site solar nameplate
    gpus_free: int  # H100s not used by other tenants
    background_share: float  # other tenants' draw, as a share of the budget


SITES = (
    Site("lax-1", "US-CAL-CISO", "us-west", "US", 34.05, -118.24, 3500, 5000, 256, 0.88),
    Site("sjc-1", "US-CAL-CISO", "us-west", "US", 37.34, -121.89, 3000, 0, 192, 0.90),
    Site("dfw-1", "US-TEX-ERCO", "us-south", "US", 32.78, -96.80, 4000, 6000, 320, 0.90),
    Site("hou-1", "US-TEX-ERCO", "us-south", "US", 29.76, -95.37, 2500, 0, 160, 0.88),
    Site("nyc-1", "US-NY-NYIS", "us-east", "US", 40.71, -74.01, 2000, 0, 160, 0.85),
    Site("buf-1", "US-NY-NYIS", "us-east", "US", 42.89, -78.88, 3000, 0, 192, 0.92),
    Site("tor-1", "CA-ON", "ca-central", "CA", 43.65, -79.38, 3000, 0, 128, 0.93),
    Site("fra-1", "DE-LU", "eu-central", "DE", 50.11, 8.68, 3500, 0, 256, 0.88),
    Site("ber-1", "DE-LU", "eu-central", "DE", 52.52, 13.40, 2500, 3500, 192, 0.90),
    Site("lon-1", "GB", "uk", "GB", 51.51, -0.13, 3000, 0, 256, 0.88),
    Site("man-1", "GB", "uk", "GB", 53.48, -2.24, 2500, 1000, 160, 0.92),
    Site("sao-1", "BR-SP", "sa-east", "BR", -23.55, -46.63, 3000, 2000, 192, 0.88),
    Site("jnb-1", "ZA", "af-south", "ZA", -26.20, 28.05, 2500, 4000, 160, 0.88),
    Site("syd-1", "AU-NSW", "ap-southeast", "AU", -33.87, 151.21, 3000, 4000, 192, 0.88),
)
PRICE_ZONE = {"GB": "DE-LU"}
CURTAILED_SITE, CURTAILED_HOURS, CURTAILED_KEEP = "dfw-1", range(19, 23), 0.3  # ERCOT peak


@dataclass(frozen=True)
class Market:
    name: str
    trace: str  # "conv" or "code"
    scale: float  # multiple of the trace's token rate
    slo_ms: float
    cities: tuple[tuple[str, float, float, float], ...]  # name, lat, lon, weight (population)
    countries: tuple[str, ...] = ()


MARKETS = (
    Market("chat-na", "conv", 30, 50, (
        ("new-york", 40.71, -74.01, 8.8), ("los-angeles", 34.05, -118.24, 3.9),
        ("chicago", 41.88, -87.63, 2.7), ("houston", 29.76, -95.37, 2.3),
        ("toronto", 43.65, -79.38, 2.8), ("dallas", 32.78, -96.80, 1.3),
        ("san-francisco", 37.77, -122.42, 0.9))),
    Market("code-na", "code", 40, 60, (
        ("san-francisco", 37.77, -122.42, 3.0), ("seattle", 47.61, -122.33, 2.0),
        ("new-york", 40.71, -74.01, 2.0), ("austin", 30.27, -97.74, 1.5),
        ("boston", 42.36, -71.06, 1.2))),
    Market("chat-eu", "conv", 25, 30, (
        ("london", 51.51, -0.13, 9.0), ("paris", 48.86, 2.35, 11.0), ("berlin", 52.52, 13.40, 3.6),
        ("madrid", 40.42, -3.70, 6.6), ("amsterdam", 52.37, 4.90, 2.5),
        ("milan", 45.46, 9.19, 4.0))),
    Market("chat-de", "conv", 8, 25, (
        ("berlin", 52.52, 13.40, 3.6), ("munich", 48.14, 11.58, 1.5),
        ("hamburg", 53.55, 9.99, 1.8), ("frankfurt", 50.11, 8.68, 0.8)), countries=("DE",)),
    Market("chat-latam", "conv", 10, 50, (
        ("sao-paulo", -23.55, -46.63, 12.0), ("rio", -22.91, -43.17, 6.7),
        ("buenos-aires", -34.60, -58.38, 3.0))),
    Market("chat-apac", "conv", 8, 40, (
        ("sydney", -33.87, 151.21, 5.3), ("melbourne", -37.81, 144.96, 5.0),
        ("brisbane", -27.47, 153.03, 2.5))),
    Market("chat-africa", "conv", 5, 40, (
        ("johannesburg", -26.20, 28.05, 5.6), ("pretoria", -25.75, 28.19, 2.5),
        ("durban", -29.86, 31.02, 3.5))),
)


# --- the world: sites, grid and demand, hour by hour -------------------------------------


def read_hours(path: Path, day: str, column: int) -> FloatArray:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r and r[0].startswith(day)]
    if len(rows) < HOURS:
        raise SystemExit(f"{path}: {len(rows)} rows for {day}, expected {HOURS}")
    return np.array([float(r[column]) for r in rows[:HOURS]])


def trace_tokens_per_s(data_dir: Path) -> dict[str, float]:
    """Mean prompt + generated tokens per second over each trace's hour."""
    rates = {}
    for trace in ("conv", "code"):
        path = data_dir / "traces" / f"AzureLLMInferenceTrace_{trace}.csv"
        with path.open(newline="") as f:
            tokens = sum(int(r["ContextTokens"]) + int(r["GeneratedTokens"])
                         for r in csv.DictReader(f))
        rates[trace] = tokens / 3600.0
    return rates


def solar_share(lat: float, lon: float, day_of_year: int, utc_hour: float) -> float:
    """Clear-sky PV output as a share of nameplate: cos(zenith)^1.15 above the horizon."""
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365)
    hour_angle = math.radians(15 * (utc_hour + lon / 15 - 12))
    phi = math.radians(lat)
    cos_z = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour_angle)
    return 0.85 * max(cos_z, 0.0) ** 1.15


def diurnal(local_hour: float) -> float:
    """Requests by local hour: a floor of 0.3 at night, 1.0 at 15:00."""
    hours_from_peak = min((local_hour - 15) % 24, (15 - local_hour) % 24)
    return 0.3 + 0.7 * math.exp(-(hours_from_peak**2) / (2 * 4.5**2))


@dataclass(frozen=True)
class World:
    """Every hour's grid, solar, background load, budgets and demand."""

    carbon: FloatArray  # (H, S) gCO2/kWh
    price: FloatArray  # (H, S) $/kWh
    renewable_kw: FloatArray  # (H, S)
    background_kw: FloatArray  # (H, S)
    budget_kw: FloatArray  # (H, S)
    city_tokens_per_s: tuple[FloatArray, ...]  # per market: (H, cities)

    def tokens_per_s(self, m: int, h: int) -> float:
        return float(self.city_tokens_per_s[m][h].sum())

    def replicas(self, m: int, h: int) -> int:
        return max(MIN_REPLICAS, math.ceil(self.tokens_per_s(m, h) / TOKENS_PER_S_PER_REPLICA))

    def snapshot(self, h: int, ours: Sequence[int]) -> FleetSnapshot:
        """The fleet at hour `h` with `ours[s]` of our replicas running on site s."""
        n = len(SITES)
        ours_arr = np.asarray(ours, dtype=np.int32)
        free = np.array([[s.gpus_free] for s in SITES], np.int32) - GPUS_PER_REPLICA * ours_arr[:,
                                                                                                None]
        return FleetSnapshot(
            names=np.array([s.name for s in SITES]), ready=np.ones(n, bool),
            unschedulable=np.zeros(n, bool), tier=np.full(n, TIERS.index("factory"), np.int8),
            region=np.array([s.region for s in SITES]),
            country=np.array([s.country for s in SITES]),
            lat=np.array([s.lat for s in SITES]), lon=np.array([s.lon for s in SITES]),
            gpu_models=("H100",), gpu_memory_gb=np.full((n, 1), 80.0),
            gpus_total=np.array([[s.gpus_free] for s in SITES], np.int32), gpus_free=free,
            budget_kw=self.budget_kw[h].copy(),
            it_draw_kw=self.background_kw[h] + POWER_KW * ours_arr,
            renewable_kw=self.renewable_kw[h].copy(), carbon_g_per_kwh=self.carbon[h].copy(),
            price_per_kwh=self.price[h].copy(), revision=h,
        )


def build_world(data_dir: Path, day: str) -> World:
    grid = data_dir / "grid"
    zones = sorted({s.zone for s in SITES})
    carbon = {z: read_hours(grid / "carbon_2023" / f"{z}.csv", day, 4) for z in zones}
    price = {z: read_hours(grid / "price_2023" / f"{PRICE_ZONE.get(z, z)}.csv", day, 2) / 1000
             for z in zones}
    doy = date.fromisoformat(day).timetuple().tm_yday
    hours = np.arange(HOURS)
    renewable = np.array([[s.pv_kw * solar_share(s.lat, s.lon, doy, h + 0.5) for s in SITES]
                          for h in hours])
    background = np.array([[s.budget_kw * s.background_share
                            * (1 + 0.03 * math.sin(2 * math.pi * ((h + s.lon / 15) % 24 - 9) / 24))
                            for s in SITES] for h in hours])
    budget = np.tile([s.budget_kw for s in SITES], (HOURS, 1)).astype(float)
    k = [s.name for s in SITES].index(CURTAILED_SITE)
    for h in CURTAILED_HOURS:
        budget[h, k] = background[h, k] + CURTAILED_KEEP * (budget[h, k] - background[h, k])
    rates = trace_tokens_per_s(data_dir)
    city_tokens = []
    for m in MARKETS:
        w = np.array([c[3] for c in m.cities])
        shape = np.array([[diurnal((h + 0.5 + c[2] / 15) % 24) for c in m.cities] for h in hours])
        per_city = shape * w / w.sum() * rates[m.trace] * m.scale / shape.mean()
        city_tokens.append(per_city)
    return World(
        carbon=np.array([[carbon[s.zone][h] for s in SITES] for h in hours]),
        price=np.array([[price[s.zone][h] for s in SITES] for h in hours]),
        renewable_kw=renewable, background_kw=background, budget_kw=budget,
        city_tokens_per_s=tuple(city_tokens),
    )


def request_for(
    world: World, m: int, h: int, weights: dict[str, float],
    move_threshold: float = DEFAULT_POLICY.move_threshold,
) -> PlacementRequest:
    market = MARKETS[m]
    tokens = world.city_tokens_per_s[m][h]
    return PlacementRequest(
        deployment=market.name, gpus=GPUS_PER_REPLICA, gpu_model="H100", gpu_memory_gb=80,
        power_kw=POWER_KW,
        demand=tuple(Demand(c[0], round(float(t), 3), c[1], c[2])
                     for c, t in zip(market.cities, tokens, strict=True)),
        latency_slo_ms=market.slo_ms, countries=market.countries, weights=weights,
        move_threshold=move_threshold,
    )


# --- the methods ----------------------------------------------------------------------------

Plan = list[np.ndarray]  # per market: replicas per site (S,), one Plan per hour


class LeastAllocated:
    """Kubernetes' default spreading: the node with the largest share of GPUs and kW still free."""

    name = "least_allocated"
    better = Better.HIGHER
    per_replica = True

    def __call__(self, ctx: PlacementContext) -> FloatArray:
        snap, rows = ctx.snapshot, ctx.rows
        gpus = ctx.fleet.gpus_free[rows, 0] / np.maximum(snap.gpus_total[rows, 0], 1)
        power = ctx.fleet.headroom_kw[rows] / snap.budget_kw[rows]
        return np.asarray((gpus + power) / 2)

    def bounds(
        self, ctx: PlacementContext, values: FloatArray, feasible: BoolArray
    ) -> tuple[float, float]:
        return min_max(values, feasible)


@dataclass(frozen=True)
class Policy:
    name: str
    weights: dict[str, float]
    chain: Chain = DEFAULT_CHAIN
    move_threshold: float = DEFAULT_POLICY.move_threshold


TOKENPLANE = Policy("tokenplane", dict(weights_from_policy(DEFAULT_POLICY)))
LOW_THRESHOLD = 0.05  # a more eager re-planner, to show what hysteresis costs and saves
NO_SLO = Chain(filters=tuple(f for f in DEFAULT_CHAIN.filters if f.name != "latency_slo"),
               scores=DEFAULT_CHAIN.scores)
BASELINES = (
    Policy("proximity only", {"latency": 1.0}),
    Policy("energy only", {"carbon": 1.0, "renewable": 0.5, "price": 0.25}, NO_SLO),
    Policy("least allocated", {"least_allocated": 1.0},
           Chain(filters=DEFAULT_CHAIN.filters, scores=(LeastAllocated(),))),
)


def ours_per_site(state: dict[str, list[RunningReplica]]) -> list[int]:
    count = Counter(r.node for replicas in state.values() for r in replicas)
    return [count[s.name] for s in SITES]


def as_plan(state: dict[str, list[RunningReplica]]) -> Plan:
    index = {s.name: i for i, s in enumerate(SITES)}
    plan = []
    for m in MARKETS:
        x = np.zeros(len(SITES), np.int64)
        for r in state[m.name]:
            x[index[r.node]] += 1
        plan.append(x)
    return plan


def run_incremental(world: World, policy: Policy) -> tuple[list[Plan], int]:
    """Each hour: replan (hysteresis, move budget, curtailment), then scale up or down."""
    state: dict[str, list[RunningReplica]] = {m.name: [] for m in MARKETS}
    serial, unplaced, plans = 0, 0, []
    for h in range(HOURS):
        requests = [request_for(world, m, h, policy.weights, policy.move_threshold)
                    for m in range(len(MARKETS))]
        snap = world.snapshot(h, ours_per_site(state))
        moves = replan(snap, [DeploymentReplicas(r, tuple(state[r.deployment]))
                              for r in requests], max_moves=MAX_MOVES_PER_HOUR, seed=h,
                       chain=policy.chain)
        for mv in moves:
            replicas = state[mv.deployment]
            i = next(i for i, r in enumerate(replicas) if r.name == mv.replica)
            if mv.to_node is None:
                del replicas[i]
            else:
                replicas[i] = RunningReplica(mv.replica, mv.to_node)
        snap = world.snapshot(h, ours_per_site(state))
        index, fleet = FleetIndex(snap), FleetState.from_snapshot(snap)
        order = sorted(range(len(MARKETS)), key=lambda m: -world.replicas(m, h))
        for m in order:
            request, replicas = requests[m], state[MARKETS[m].name]
            want = world.replicas(m, h) - len(replicas)
            if want > 0:
                result = place(snap, request, want, existing=[r.node for r in replicas],
                               seed=h, index=index, chain=policy.chain, fleet=fleet)
                done = list(result.placed) if isinstance(result, Unschedulable) else result
                unplaced += want - len(done)
                for p in done:
                    serial += 1
                    replicas.append(RunningReplica(f"{request.deployment}-{serial}", p.node))
            elif want < 0:
                stop = set(scale_down(snap, DeploymentReplicas(request, tuple(replicas)), -want,
                                      index=index, chain=policy.chain))
                replicas[:] = [r for r in replicas if r.name not in stop]
        plans.append(as_plan(state))
    return plans, unplaced


def run_fresh(world: World, policy: Policy) -> tuple[list[Plan], int]:
    """Each hour from scratch: every replica placed anew, the largest market first."""
    plans, unplaced = [], 0
    for h in range(HOURS):
        snap = world.snapshot(h, [0] * len(SITES))
        index, fleet = FleetIndex(snap), FleetState.from_snapshot(snap)
        plan = [np.zeros(len(SITES), np.int64) for _ in MARKETS]
        for m in sorted(range(len(MARKETS)), key=lambda m: -world.replicas(m, h)):
            n = world.replicas(m, h)
            result = place(snap, request_for(world, m, h, policy.weights), n, seed=h,
                           index=index, chain=policy.chain, fleet=fleet)
            done = list(result.placed) if isinstance(result, Unschedulable) else result
            unplaced += n - len(done)
            for p in done:
                plan[m][p.row] += 1
        plans.append(plan)
    return plans, unplaced


# --- tokenplane's objective, exactly, as a MILP --------------------------------------------


@dataclass(frozen=True)
class Terms:
    """One market's objective over the sites at one hour: the scheduler's own normalisation."""

    allowed: BoolArray  # (S,) sites feasible for one replica at the hour's start
    x_cost: FloatArray  # (S,) cost per replica before renewables and spread
    r_cost: FloatArray  # (S,) cost per renewable kW allocated (negative: a saving)
    spread_share: float  # weight share of the spread score
    replicas: int


def objective_terms(world: World, h: int) -> list[Terms]:
    """Each market's cost coefficients, from the Evaluator's scales on the empty hour."""
    snap = world.snapshot(h, [0] * len(SITES))
    index = FleetIndex(snap)
    terms = []
    for m in range(len(MARKETS)):
        n = world.replicas(m, h)
        ctx = build_context(index, request_for(world, m, h, TOKENPLANE.weights), n)
        ev = Evaluator(ctx, DEFAULT_CHAIN, narrow=False)
        verdict = ev.feasible()
        ev.fix_scales(verdict.mask)
        scales = ev.scales

        lo_c, hi_c = scales["carbon"]
        span_c = hi_c - lo_c
        carbon = snap.carbon_g_per_kwh
        x_cost = (ev.share("latency") * normalise(ctx.rtt_ms, *scales["latency"], Better.LOWER)
                  + ev.share("price") * normalise(snap.price_per_kwh, *scales["price"],
                                                  Better.LOWER)
                  + ev.share("renewable") * 1.0
                  + (ev.share("carbon") * (carbon - lo_c) / span_c if span_c > 0 else 0.0))
        r_cost = -(ev.share("renewable") / POWER_KW
                   + (ev.share("carbon") * carbon / (POWER_KW * span_c) if span_c > 0 else 0.0))
        terms.append(Terms(verdict.mask.copy(), np.broadcast_to(x_cost, carbon.shape).copy(),
                           np.broadcast_to(r_cost, carbon.shape).copy(), ev.share("spread"), n))
    return terms


def solve_hour(world: World, h: int, terms: list[Terms], fixed: Plan | None = None
               ) -> tuple[float, Plan, float]:
    """min of the objective over x (or given x), renewable splits and spread epigraphs.

    Variables per market d and site n: x (replicas, integer), r (renewable kW it
    uses), tn (node spread); per market and region: tg (region spread). Spread
    cost of k replicas in a domain is k(k-1)/(4R), convex, as the max of its
    chords at the integers. Returns (objective, plan, seconds).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    n_s, n_m = len(SITES), len(MARKETS)
    regions = sorted({s.region for s in SITES})
    site_region = [regions.index(s.region) for s in SITES]
    n_r = len(regions)
    per_m = 3 * n_s + n_r
    n_var = n_m * per_m

    def xi(d: int, s: int) -> int:
        return d * per_m + s

    def ri(d: int, s: int) -> int:
        return d * per_m + n_s + s

    def tni(d: int, s: int) -> int:
        return d * per_m + 2 * n_s + s

    def tgi(d: int, g: int) -> int:
        return d * per_m + 3 * n_s + g

    c = np.zeros(n_var)
    lb, ub = np.zeros(n_var), np.full(n_var, np.inf)
    integrality = np.zeros(n_var)
    rows: list[tuple[dict[int, float], float, float]] = []
    surplus = np.maximum(world.renewable_kw[h] - world.background_kw[h], 0.0)
    headroom = world.budget_kw[h] - world.background_kw[h]
    for d, t in enumerate(terms):
        R = t.replicas
        allowed = t.allowed if fixed is None else (t.allowed | (fixed[d] > 0))
        for s in range(n_s):
            c[xi(d, s)], c[ri(d, s)], c[tni(d, s)] = t.x_cost[s], t.r_cost[s], t.spread_share
            integrality[xi(d, s)] = 1
            ub[xi(d, s)] = R if allowed[s] else 0
            if fixed is not None:
                lb[xi(d, s)] = ub[xi(d, s)] = fixed[d][s]
            rows.append(({ri(d, s): 1.0, xi(d, s): -POWER_KW}, -np.inf, 0.0))
            for k in range(R):  # tn >= f(k) + f'(k) (x - k)
                rows.append(({tni(d, s): 1.0, xi(d, s): -k / (2 * R)}, -(k * k + k) / (4 * R),
                             np.inf))
        for g in range(n_r):
            c[tgi(d, g)] = t.spread_share
            members = [s for s in range(n_s) if site_region[s] == g]
            for k in range(R):
                row = {tgi(d, g): 1.0} | {xi(d, s): -k / (2 * R) for s in members}
                rows.append((row, -(k * k + k) / (4 * R), np.inf))
        if fixed is None:
            rows.append(({xi(d, s): 1.0 for s in range(n_s)}, R, R))
    for s in range(n_s):
        rows.append(({ri(d, s): 1.0 for d in range(n_m)}, -np.inf, float(surplus[s])))
        if fixed is None:
            rows.append(({xi(d, s): float(GPUS_PER_REPLICA) for d in range(n_m)}, -np.inf,
                         float(SITES[s].gpus_free)))
            rows.append(({xi(d, s): POWER_KW for d in range(n_m)}, -np.inf, float(headroom[s])))
    a = lil_matrix((len(rows), n_var))
    lo_b, hi_b = np.empty(len(rows)), np.empty(len(rows))
    for i, (coef, lo, hi) in enumerate(rows):
        for j, v in coef.items():
            a[i, j] = v
        lo_b[i], hi_b[i] = lo, hi
    t0 = time.perf_counter()
    res = milp(c, integrality=integrality, bounds=Bounds(lb, ub),
               constraints=LinearConstraint(a.tocsr(), lo_b, hi_b),
               options={"mip_rel_gap": 1e-9, "time_limit": 120})
    seconds = time.perf_counter() - t0
    if res.x is None:
        raise RuntimeError(f"hour {h}: the MILP found no solution ({res.message})")
    plan = [np.rint(res.x[[xi(d, s) for s in range(n_s)]]).astype(np.int64)
            for d in range(n_m)]
    return float(res.fun), plan, seconds


def run_milp(world: World, terms: list[list[Terms]]) -> tuple[list[Plan], list[float]]:
    plans, seconds = [], []
    for h in range(HOURS):
        _, plan, s = solve_hour(world, h, terms[h])
        plans.append(plan)
        seconds.append(s)
    return plans, seconds


# --- what each plan did -----------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    plans: list[Plan]
    unplaced: int = 0
    objective: float = 0.0
    g_per_mtok: float = 0.0
    slo_share: float = 0.0
    p95_rtt_ms: float = 0.0
    moves: int = 0
    violations: int = 0
    hourly_g_per_mtok: FloatArray = field(default_factory=lambda: np.zeros(HOURS))


def site_rtt_ms() -> list[FloatArray]:
    """Per market: RTT from every site to every city, (S, cities)."""
    out = []
    for m in MARKETS:
        lat, lon = np.array([c[1] for c in m.cities]), np.array([c[2] for c in m.cities])
        km = great_circle_km(np.array([s.lat for s in SITES])[:, None],
                             np.array([s.lon for s in SITES])[:, None], lat[None], lon[None])
        out.append(np.asarray(rtt_ms_from_km(km), dtype=np.float64))
    return out


def evaluate(world: World, outcome: Outcome, terms: list[list[Terms]]) -> Outcome:
    rtts = site_rtt_ms()
    grams = tokens = within = 0.0
    hourly = np.zeros(HOURS)
    samples: list[tuple[float, float]] = []
    previous: Plan | None = None
    for h, plan in enumerate(outcome.plans):
        outcome.objective += solve_hour(world, h, terms[h], fixed=plan)[0]
        ours_kw = POWER_KW * np.sum(plan, axis=0)
        bg, ren = world.background_kw[h], world.renewable_kw[h]
        grid_kw = np.maximum(bg + ours_kw - ren, 0) - np.maximum(bg - ren, 0)
        g = float(np.dot(grid_kw, world.carbon[h]))  # kW x 1 h x g/kWh
        hour_tokens = 3600.0 * sum(world.tokens_per_s(m, h) for m in range(len(MARKETS)))
        grams += g
        tokens += hour_tokens
        hourly[h] = g / (hour_tokens / 1e6)
        outcome.violations += int(np.sum(bg + ours_kw > world.budget_kw[h] + 1e-6))
        for m in range(len(MARKETS)):
            where = plan[m] > 0
            city_tokens = 3600.0 * world.city_tokens_per_s[m][h]
            if not where.any():
                samples += [(float("inf"), t) for t in city_tokens]
                continue
            nearest = rtts[m][where].min(axis=0)
            within += float(city_tokens[nearest <= MARKETS[m].slo_ms].sum())
            samples += list(zip(nearest.tolist(), city_tokens.tolist(), strict=True))
            if previous is not None:
                started = int(np.maximum(plan[m] - previous[m], 0).sum())
                grown = max(int(plan[m].sum() - previous[m].sum()), 0)
                outcome.moves += started - grown
        previous = plan
    samples.sort()
    cumulative = np.cumsum([w for _, w in samples])
    outcome.p95_rtt_ms = samples[int(np.searchsorted(cumulative, 0.95 * cumulative[-1]))][0]
    outcome.g_per_mtok = grams / (tokens / 1e6)
    outcome.slo_share = within / tokens
    outcome.hourly_g_per_mtok = hourly
    return outcome


# --- report -----------------------------------------------------------------------------------


def plot(outcomes: list[Outcome], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    for o in outcomes:
        style = "-" if o.name.startswith(("tokenplane", "MILP")) else "--"
        left.plot(range(HOURS), o.hourly_g_per_mtok, style, label=o.name, linewidth=1.6)
    left.set_xlabel("hour (UTC)")
    left.set_ylabel("gCO2 per million tokens")
    left.set_title("Carbon of the tokens, hour by hour")
    left.legend(fontsize=8)
    for o, marker in zip(outcomes, "osD^vP*X", strict=False):
        right.scatter(100 * o.slo_share, o.g_per_mtok, s=70, marker=marker, label=o.name,
                      alpha=0.85)
    right.legend(fontsize=8)
    right.set_xlabel("tokens served within their SLO (%)")
    right.set_ylabel("gCO2 per million tokens (day)")
    right.set_title("Carbon against latency, over the day")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--day", default="2023-04-18", help="a day of 2023 (UTC)")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the shared data directory")
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args()
    if not (args.data / "grid" / "carbon_2023").is_dir():
        sys.exit(f"placement_quality: no grid data at {args.data} (expected "
                 "grid/carbon_2023, grid/price_2023 and traces/ from ../shared/data); "
                 "pass --data DIR")
    world = build_world(args.data, args.day)
    terms = [objective_terms(world, h) for h in range(HOURS)]
    runs: list[tuple[str, Callable[[], tuple[list[Plan], int]]]] = [
        (p.name, partial(run_incremental, world, p)) for p in BASELINES]
    eager = Policy(f"tokenplane, move threshold {LOW_THRESHOLD}", TOKENPLANE.weights,
                   move_threshold=LOW_THRESHOLD)
    runs += [("tokenplane", lambda: run_incremental(world, TOKENPLANE)),
             (eager.name, lambda: run_incremental(world, eager)),
             ("tokenplane, fresh each hour", lambda: run_fresh(world, TOKENPLANE))]
    outcomes = []
    for name, run in runs:
        plans, unplaced = run()
        outcomes.append(evaluate(world, Outcome(name, plans, unplaced), terms))
    milp_plans, milp_seconds = run_milp(world, terms)
    outcomes.append(evaluate(world, Outcome("MILP optimum (HiGHS)", milp_plans), terms))
    by = {o.name: o for o in outcomes}
    best = by["MILP optimum (HiGHS)"]

    replicas = [sum(world.replicas(m, h) for m in range(len(MARKETS))) for h in range(HOURS)]
    print(f"## Placement quality, {args.day}: {len(SITES)} sites, {len(MARKETS)} markets, "
          f"{min(replicas)}-{max(replicas)} replicas an hour\n")
    print("| method | objective (day) | vs MILP | gCO2/Mtok | tokens within SLO | p95 RTT ms "
          "| replica moves | power-budget violations | unplaced replica-hours |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for o in outcomes:
        gap = 100 * (o.objective - best.objective) / best.objective
        print(f"| {o.name} | {o.objective:.2f} | {gap:+.1f}% | {o.g_per_mtok:.1f} | "
              f"{100 * o.slo_share:.1f}% | {o.p95_rtt_ms:.0f} | {o.moves} | {o.violations} | "
              f"{o.unplaced} |")
    prox = by["proximity only"].g_per_mtok
    print("\n| target | result |\n|---|---|")
    for name in ("tokenplane, fresh each hour", "tokenplane", eager.name):
        o = by[name]
        gap = 100 * (o.objective - best.objective) / best.objective
        share = 100 * (prox - o.g_per_mtok) / (prox - best.g_per_mtok)
        print(f"| {name}: objective within 3% of the MILP optimum | {gap:+.2f}% |")
        print(f"| {name}: share of the optimum's carbon reduction over proximity-only "
              f"(>= 90%) | {share:.0f}% (SLO {100 * o.slo_share:.1f}% vs optimum "
              f"{100 * best.slo_share:.1f}%) |")
    fresh = by["tokenplane, fresh each hour"].plans
    optimum = [solve_hour(world, h, terms[h])[0] for h in range(HOURS)]
    hourly_gap = [100 * (solve_hour(world, h, terms[h], fixed=fresh[h])[0] - optimum[h])
                  / optimum[h] for h in range(HOURS)]
    print(f"\nMILP: {HOURS} hourly instances, {np.mean(milp_seconds) * 1e3:.0f} ms mean, "
          f"{np.max(milp_seconds) * 1e3:.0f} ms max (HiGHS); tokenplane fresh vs optimum per "
          f"hour: mean {np.mean(hourly_gap):+.2f}%, worst {np.max(hourly_gap):+.2f}%.")
    plot(outcomes, args.plot)
    print(f"Plot: {args.plot.relative_to(REPO) if args.plot.is_relative_to(REPO) else args.plot}")


if __name__ == "__main__":
    main()

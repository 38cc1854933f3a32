"""Re-planning hourly over a month of real grid hours: carbon and moves, with and without forecasts.

Run: `.venv/bin/python benchmarks/replan_month.py [--start 2023-04-01] [--days 30]`
(needs scipy: `pip install -e .[bench]`; data: `--data`, by default ../shared/data).

The world is placement_quality's (`quality_data.py`: 16 sites, one per grid
zone, at measured cloud regions; 45 metros weighted by population; measured
RTTs; seeded site capacities), but its hours are consecutive: every hour of
the month, with each zone's real carbon (Electricity Maps 2023) and price. Per
cell (demand set / SLO ms / replicas), the replicas are placed by `place` at
the first hour, then each policy runs on its own copy, hour by hour:

- **never**: the first placement kept all month;
- **current hour**: `replan` every hour on that hour's figures only (each move
  must repay its start-up over `moveHorizonHours` as if the hour lasted);
- **forecast**: `replan` every hour with the control plane's seasonal-naive
  forecast (`controlplane.energy.forecast`, from the week before each hour)
  in the snapshot: a move is judged on the horizon's mean saving;
- **perfect forecast** (a ceiling for any forecast): the real next 24 hours;
- **re-place hourly** (a floor on running carbon): `place` from scratch every
  hour, ignoring start-ups; its moves are the replicas that change site.

A move is make-before-break: the new replica draws for `moveStartupMinutes`
before the old one stops, so each move adds that energy at the destination's
carbon of the hour. Carbon = the replicas' draw hour by hour plus start-ups.
Attainment is the share of demand (by population) whose nearest replica is
within the SLO, by measured RTT.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from quality_data import (
    BACKGROUND_KW,
    GPUS_PER_REPLICA,
    POWER_KW,
    PRICE_PROXY,
    FloatArray,
    World,
    load_world,
    read_hourly,
)

try:
    import quality_limit as ql
except ImportError as err:  # scipy
    raise SystemExit(f"replan_month needs scipy (pip install -e .[bench]): {err}") from err

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controlplane.energy.forecast import seasonal_naive  # noqa: E402
from controlplane.inventory.snapshot import TIERS, FleetSnapshot  # noqa: E402
from controlplane.scheduler import (  # noqa: E402
    Demand,
    DeploymentReplicas,
    FleetIndex,
    PlacementRequest,
    RunningReplica,
    Unschedulable,
    place,
    replan,
)

DATA_DIR = REPO.parent / "shared" / "data"
CELLS = (
    "world/150/16",
    "world/200/8",
    "europe/100/8",
    "north-america/100/16",
    "asia-pacific/150/16",
)
HISTORY_H = 7 * 24  # the forecast's window: the week before each hour
FORECAST_H = 24
POLICIES = ("never", "current hour", "forecast", "perfect forecast", "re-place hourly")


@dataclass(frozen=True)
class Year:
    """Every hour of 2023 at each site: (8760, S)."""

    carbon_g_per_kwh: FloatArray
    price_per_kwh: FloatArray


@dataclass
class Run:
    """One policy in one cell over the month."""

    carbon_g: float = 0.0
    startup_g: float = 0.0
    moves: int = 0
    attainment: list[float] = field(default_factory=list)
    replan_ms: list[float] = field(default_factory=list)
    hours_with_moves: int = 0
    short_stays: int = 0  # moves of a replica that had arrived less than a horizon before


def load_year(data: Path, world: World) -> Year:
    every = list(range(8760))
    carbon_col = {"direct": 4, "lca": 5}[world.carbon_column]
    carbon = np.column_stack(
        [
            read_hourly(data / "grid" / "carbon_2023" / f"{s.zone}.csv", carbon_col, every)
            for s in world.sites
        ]
    )
    price = np.column_stack(
        [
            read_hourly(
                data / "grid" / "price_2023" / f"{PRICE_PROXY.get(s.zone, s.zone)}.csv", 2, every
            )
            / 1000.0
            for s in world.sites
        ]
    )
    return Year(carbon, price)


def make_request(world: World, cell: str, horizon_h: float, startup_min: float) -> tuple:
    demand_set, slo, replicas = cell.split("/")
    demand = tuple(
        Demand(m.name, round(m.population / 1e6, 3), m.lat, m.lon)
        for m in (world.metros[j] for j in world.demand(demand_set))
    )
    request = PlacementRequest(
        deployment=f"month-{demand_set}",
        gpus=GPUS_PER_REPLICA,
        gpu_model="H100",
        gpu_memory_gb=80.0,
        power_kw=POWER_KW,
        demand=demand,
        latency_slo_ms=float(slo),
        objective="carbon",
        move_horizon_hours=horizon_h,
        move_startup_minutes=startup_min,
    )
    return request, int(replicas), world.demand(demand_set), float(slo)


def snapshot(
    world: World,
    year: Year,
    hour: int,
    counts: FloatArray,
    forecast: tuple[FloatArray, FloatArray] | None,
) -> FleetSnapshot:
    """The fleet at `hour`, `counts` replicas per site already running (drawing, holding GPUs)."""
    sites, metros = world.sites, world.metros
    n = len(sites)
    free = (world.gpus_free - counts * GPUS_PER_REPLICA).astype(np.int32)
    carbon_ahead, price_ahead = forecast if forecast is not None else (np.zeros((0, 0)),) * 2
    return FleetSnapshot(
        names=np.array([s.name for s in sites]),
        ready=np.ones(n, bool),
        unschedulable=np.zeros(n, bool),
        tier=np.full(n, TIERS.index("factory"), np.int8),
        region=np.array([s.region for s in sites]),
        country=np.array([s.country for s in sites]),
        lat=np.array([s.lat for s in sites]),
        lon=np.array([s.lon for s in sites]),
        gpu_models=("H100",),
        gpu_memory_gb=np.full((n, 1), 80.0),
        gpus_total=world.gpus_free[:, None].astype(np.int32),
        gpus_free=free[:, None],
        budget_kw=BACKGROUND_KW + world.headroom_kw,
        it_draw_kw=BACKGROUND_KW + counts * POWER_KW,
        renewable_kw=np.zeros(n),
        carbon_g_per_kwh=year.carbon_g_per_kwh[hour].copy(),
        price_per_kwh=year.price_per_kwh[hour].copy(),
        measured_rtt_ms={
            i: {m.name: float(world.rtt_ms[i, j]) for j, m in enumerate(metros)} for i in range(n)
        },
        landmarks={m.name: (m.lat, m.lon) for m in metros},
        revision=hour,
        carbon_forecast_g_per_kwh=carbon_ahead,
        price_forecast_per_kwh=price_ahead,
    )


Forecaster = Callable[[int], tuple[FloatArray, FloatArray] | None]


def forecasters(year: Year) -> dict[str, Forecaster]:
    """Per replanning policy: the (S, 24) carbon and price forecasts it sees at an hour."""

    def naive(h: int) -> tuple[FloatArray, FloatArray]:
        window = slice(h - HISTORY_H + 1, h + 1)
        return (
            seasonal_naive(year.carbon_g_per_kwh[window].T, FORECAST_H),
            seasonal_naive(year.price_per_kwh[window].T, FORECAST_H),
        )

    def perfect(h: int) -> tuple[FloatArray, FloatArray]:
        ahead = slice(h + 1, h + 1 + FORECAST_H)
        return year.carbon_g_per_kwh[ahead].T.copy(), year.price_per_kwh[ahead].T.copy()

    return {"current hour": lambda h: None, "forecast": naive, "perfect forecast": perfect}


def run_cell(
    world: World, year: Year, hours: range, cell: str, horizon_h: float, startup_min: float
) -> dict[str, Run]:
    request, n_replicas, cols, slo = make_request(world, cell, horizon_h, startup_min)
    rtt, weight = world.rtt_ms[:, cols], np.array([world.metros[j].population for j in cols])
    names = [s.name for s in world.sites]
    row = {name: i for i, name in enumerate(names)}
    n = len(names)
    startup_h = startup_min / 60.0

    def place_at(h: int) -> list[int]:
        snap = snapshot(world, year, h, np.zeros(n), None)
        result = place(snap, request, n_replicas, index=FleetIndex(snap))
        placed = result.placed if isinstance(result, Unschedulable) else result
        return [row[str(p.node)] for p in placed]

    first = place_at(hours[0])
    runs = {p: Run() for p in POLICIES}
    where = {p: {f"r{i}": s for i, s in enumerate(first)} for p in POLICIES}
    arrived: dict[str, dict[str, int]] = {p: {} for p in POLICIES}
    guesses = forecasters(year)
    for h in hours:
        intensity = year.carbon_g_per_kwh[h]
        for policy in POLICIES:
            run, at = runs[policy], where[policy]
            moved: list[int] = []  # destinations started this hour
            if policy == "re-place hourly" and h != hours[0]:
                fresh = Counter(place_at(h))
                now = Counter(at.values())
                moved = list((fresh - now).elements())
                at.clear()
                at.update({f"r{i}": s for i, s in enumerate(fresh.elements())})
            elif policy in guesses:
                counts = np.bincount(list(at.values()), minlength=n).astype(np.float64)
                snap = snapshot(world, year, h, counts, guesses[policy](h))
                t0 = time.perf_counter()
                moves = replan(
                    snap,
                    [
                        DeploymentReplicas(
                            request, tuple(RunningReplica(r, names[s]) for r, s in at.items())
                        )
                    ],
                )
                run.replan_ms.append((time.perf_counter() - t0) * 1e3)
                for m in moves:
                    if m.to_node is not None:
                        since = arrived[policy].get(m.replica)
                        run.short_stays += since is not None and h - since < horizon_h
                        arrived[policy][m.replica] = h
                        at[m.replica] = row[m.to_node]
                        moved.append(row[m.to_node])
            counts = np.bincount(list(at.values()), minlength=n)
            run.carbon_g += ql.carbon_g_per_h(counts, intensity, POWER_KW)
            run.startup_g += sum(POWER_KW * startup_h * intensity[s] for s in moved)
            run.moves += len(moved)
            run.hours_with_moves += bool(moved)
            run.attainment.append(ql.attainment(rtt, weight, counts, slo))
    return runs


def hour_of_year(date: str) -> int:
    day = dt.date.fromisoformat(date)
    if day.year != 2023:
        raise SystemExit(f"replan_month: --start must be a date of 2023, got {date}")
    return (day - dt.date(2023, 1, 1)).days * 24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the shared data directory")
    parser.add_argument("--start", default="2023-04-01", help="first day (2023, from Jan 8)")
    parser.add_argument("--days", type=int, default=30, help="days replayed")
    parser.add_argument("--cells", default=",".join(CELLS), help="demand/SLO ms/replicas,...")
    parser.add_argument("--horizon-h", type=float, default=4.0, help="moveHorizonHours")
    parser.add_argument("--startup-min", type=float, default=10.0, help="moveStartupMinutes")
    parser.add_argument("--seed", type=int, default=0, help="site capacities")
    parser.add_argument("--carbon", default="direct", choices=("direct", "lca"))
    args = parser.parse_args()
    start = hour_of_year(args.start)
    end = start + 24 * args.days
    if start < HISTORY_H or end + FORECAST_H > 8760 or args.days < 1:
        raise SystemExit("replan_month: the month must start after Jan 7 and end before Dec 31")
    world = load_world(args.data, 1, args.seed, args.carbon)
    year = load_year(args.data, world)
    hours = range(start, end)
    print(
        f"## Re-planning over {args.days} days of real hours ({args.start}, {len(hours)} h, "
        f"UTC), {len(world.sites)} sites, {world.carbon_column} carbon; moveHorizonHours "
        f"{args.horizon_h:g}, moveStartupMinutes {args.startup_min:g}\n"
    )
    print(
        "| cell | policy | tCO2 | vs never | start-ups kgCO2 | moves | hours with moves "
        "| left within the horizon | attainment % mean / worst h | replan p50 / p99 ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    t0 = time.perf_counter()
    for cell in args.cells.split(","):
        runs = run_cell(world, year, hours, cell, args.horizon_h, args.startup_min)
        never = runs["never"].carbon_g
        for policy, r in runs.items():
            total = r.carbon_g + r.startup_g
            timing = (
                f"{np.percentile(r.replan_ms, 50):.1f} / {np.percentile(r.replan_ms, 99):.1f}"
                if r.replan_ms
                else "-"
            )
            print(
                f"| {cell} | {policy} | {total / 1e6:.2f} | {100 * (total / never - 1):+.1f}% | "
                f"{r.startup_g / 1e3:.0f} | {r.moves} | {r.hours_with_moves} | "
                f"{r.short_stays if r.replan_ms else '-'} | "
                f"{100 * np.mean(r.attainment):.1f} / {100 * np.min(r.attainment):.1f} | "
                f"{timing} |"
            )
        sys.stdout.flush()
    print(
        "\n'left within the horizon': moves of a replica that had arrived less than "
        "moveHorizonHours before (a move that did not last)."
    )
    print(
        f"tCO2 includes start-ups (each move: {POWER_KW} kW for {args.startup_min:g} min at the "
        f"destination). ({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()

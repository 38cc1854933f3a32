"""Placement quality on the per-user objective: real grids, measured RTTs, the exact limit.

Run: `.venv/bin/python benchmarks/placement_quality.py [--hours 52] [--seed 0]`
(needs scipy and matplotlib: `pip install -e .[bench]`; the data directory is
`--data`, by default ../shared/data). A user means by proximity that *their*
requests are served by a replica near *them*, so a placement is judged per
demand point: its attainment is the share of demand weight whose nearest chosen
site (by measured RTT) is within the SLO, and its carbon is the gCO2 an hour of
its replicas' draw at their sites' grid intensity.

The world (`quality_data.py`): 16 sites, one per grid zone with 2023 hourly
carbon (Electricity Maps, `--carbon direct` or `lca`) and prices, at measured
cloud regions; 45 metros of demand weighted by population; measured RTTs
(skyplane, 2022). For every cell, SLO (`--slo-ms`, default 100/150/200) x
replicas (`--replicas`, default 8/16) x world/Europe/North America/Asia-Pacific
demand, and every sampled hour of the year (`--hours`, `--seed`):

- **the limit** (`quality_limit.limit`, HiGHS): most demand weight within the
  SLO, then least carbon, within site capacities;
- **proximity**: the p-median (`quality_limit.p_median`: least demand-weighted
  RTT, carbon-blind, replicas on distinct sites);
- **ours**: `controlplane.scheduler.place` on the hour's snapshot, each site a
  node whose measured RTT to every metro (a landmark of the metro's name) the
  snapshot carries; each call is timed.

Share of the achievable cut = (proximity - ours) / (proximity - limit), carbon
summed over the hours; over 100% means less carbon than the limit bought by
serving less demand within the SLO. The goal (issue 10): >= 95% of the cut,
with mean attainment no lower than the limit's minus 0.5 point, every replica
placed, in every cell. The run also warns if any hour beats the limit (it would
not be one). `--scheduler-rev REV` runs ours on a git revision of the
scheduler (a subprocess over `git archive REV`), and `--old-rev` compares with
the previous, weighted-score objective the same way (`--old-rev ''` skips it).
The plot goes to docs/placement_quality.png. Re-planning hour by hour over a
month of consecutive real hours, with and without forecasts, is
`benchmarks/replan_month.py` (same world; docs/forecast.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from quality_data import (
    BACKGROUND_KW,
    DEMAND_SETS,
    GPUS_PER_REPLICA,
    POWER_KW,
    IntArray,
    World,
    load_world,
)

try:
    import quality_limit as ql
except ImportError as err:  # scipy
    raise SystemExit(f"placement_quality needs scipy (pip install -e .[bench]): {err}") from err

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data"
PLOT = REPO / "docs" / "placement_quality.png"
SLOS_MS = (100.0, 150.0, 200.0)
REPLICAS = (8, 16)
OLD_REV = "f62e143"  # the last scheduler on the weighted-score objective
CUT_GOAL = 0.95
ATTAINMENT_SLACK = 0.005


@dataclass(frozen=True)
class Cell:
    demand: str
    slo_ms: float
    replicas: int

    @property
    def key(self) -> str:
        return f"{self.demand}/{self.slo_ms:.0f}/{self.replicas}"


def make_cells(
    slos_ms: tuple[float, ...] = SLOS_MS, replicas: tuple[int, ...] = REPLICAS
) -> list[Cell]:
    return [Cell(d, s, r) for d in DEMAND_SETS for s in slos_ms for r in replicas]


# --- ours: the scheduler on each hour's snapshot ----------------------------------------


@dataclass
class OursRun:
    """Ours in one cell, hour by hour."""

    replicas: list[list[int]]  # (H, S)
    unplaced: list[int]  # (H,)
    place_ms: list[float]  # (H,)


def _known(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The fields of `values` that `cls` has: the same code drives older schedulers."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def run_ours(world: World, cells: list[Cell]) -> dict[str, OursRun]:
    """`place` for every cell and hour; one snapshot and FleetIndex an hour, shared by the cells."""
    from controlplane.inventory.snapshot import TIERS, FleetSnapshot
    from controlplane.scheduler import Demand, FleetIndex, PlacementRequest, Unschedulable, place

    sites, metros = world.sites, world.metros
    n = len(sites)
    rows = {s.name: i for i, s in enumerate(sites)}
    measured = {
        i: {m.name: float(world.rtt_ms[i, j]) for j, m in enumerate(metros)} for i in range(n)
    }
    by_name = {
        (s.name, m.name): float(world.rtt_ms[i, j])
        for i, s in enumerate(sites)
        for j, m in enumerate(metros)
    }
    index_takes_rtt = "measured_rtt_ms" in inspect.signature(FleetIndex).parameters
    requests = {}
    for cell in cells:
        demand = tuple(
            Demand(
                metros[j].name, round(metros[j].population / 1e6, 3), metros[j].lat, metros[j].lon
            )
            for j in world.demand(cell.demand)
        )
        requests[cell.key] = PlacementRequest(
            **_known(
                PlacementRequest,
                {
                    "deployment": f"quality-{cell.demand}",
                    "gpus": GPUS_PER_REPLICA,
                    "gpu_model": "H100",
                    "gpu_memory_gb": 80.0,
                    "power_kw": POWER_KW,
                    "demand": demand,
                    "latency_slo_ms": cell.slo_ms,
                    "min_sites": 1,
                    "objective": "carbon",
                },
            )
        )
    out = {c.key: OursRun([], [], []) for c in cells}
    for h in range(len(world.hours)):
        snapshot = FleetSnapshot(
            **_known(
                FleetSnapshot,
                {
                    "names": np.array([s.name for s in sites]),
                    "ready": np.ones(n, bool),
                    "unschedulable": np.zeros(n, bool),
                    "tier": np.full(n, TIERS.index("factory"), np.int8),
                    "region": np.array([s.region for s in sites]),
                    "country": np.array([s.country for s in sites]),
                    "lat": np.array([s.lat for s in sites]),
                    "lon": np.array([s.lon for s in sites]),
                    "gpu_models": ("H100",),
                    "gpu_memory_gb": np.full((n, 1), 80.0),
                    "gpus_total": world.gpus_free[:, None].astype(np.int32),
                    "gpus_free": world.gpus_free[:, None].astype(np.int32),
                    "budget_kw": BACKGROUND_KW + world.headroom_kw,
                    "it_draw_kw": np.full(n, BACKGROUND_KW),
                    "renewable_kw": np.zeros(n),
                    "carbon_g_per_kwh": world.intensity[h].copy(),
                    "price_per_kwh": world.price_usd_per_kwh[h].copy(),
                    "measured_rtt_ms": measured,
                    "landmarks": {m.name: (m.lat, m.lon) for m in metros},
                    "revision": h,
                },
            )
        )
        index = (
            FleetIndex(snapshot, measured_rtt_ms=by_name)
            if index_takes_rtt
            else FleetIndex(snapshot)
        )
        for cell in cells:
            t0 = time.perf_counter()
            result = place(snapshot, requests[cell.key], cell.replicas, index=index)
            ms = (time.perf_counter() - t0) * 1e3
            placed = result.placed if isinstance(result, Unschedulable) else result
            count = [0] * n
            for p in placed:
                count[rows[str(p.node)]] += 1
            run = out[cell.key]
            run.replicas.append(count)
            run.unplaced.append(cell.replicas - len(placed))
            run.place_ms.append(ms)
    return out


def world_args(args: argparse.Namespace) -> list[str]:
    """The options that define the world and the cells, to hand to a worker."""
    return [
        "--data", str(args.data), "--hours", str(args.hours), "--seed", str(args.seed),
        "--carbon", args.carbon, "--capacity", args.capacity, "--slo-ms", args.slo_ms,
        "--replicas", args.replicas, "--sites", args.sites,
    ]  # fmt: skip


def run_ours_at(rev: str, args: argparse.Namespace) -> dict[str, OursRun]:
    """`run_ours` on the scheduler of git revision `rev`, in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", rev, "controlplane", "tokenplane"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = dict(os.environ, PYTHONPATH=tmp)
        cmd = [sys.executable, __file__, "--worker", *world_args(args)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"scheduler at {rev} failed:\n{done.stderr[-3000:]}")
    return {k: OursRun(**v) for k, v in json.loads(done.stdout).items()}


# --- the references and the report --------------------------------------------------------


@dataclass
class CellResult:
    cell: Cell
    hourly_carbon_g: dict[str, list[float]]  # method -> gCO2 of each hour
    attainment: dict[str, list[float]]  # method -> per hour
    unplaced: int
    place_ms: list[float]

    def carbon_g(self, method: str) -> float:
        """gCO2 summed over the hours."""
        return float(sum(self.hourly_carbon_g[method]))

    def cut_share(self, method: str = "ours") -> float:
        """(proximity - method) / (proximity - limit), carbon summed over the hours."""
        prox, lim = self.carbon_g("proximity"), self.carbon_g("limit")
        if prox - lim <= 1e-6 * max(prox, 1.0):  # nothing to cut: at the limit or not
            return 1.0 if self.carbon_g(method) <= lim * (1 + 1e-6) else float("-inf")
        return (prox - self.carbon_g(method)) / (prox - lim)

    def beats_limit(self, method: str = "ours") -> int:
        """Hours in which `method` is lexicographically better than the limit: must be 0.

        More demand within the SLO, or as much for less carbon, would mean the
        limit is not one (or the evaluation differs from the limit's model).
        """
        count = 0
        for a, a_lim, g, g_lim in zip(
            self.attainment[method],
            self.attainment["limit"],
            self.hourly_carbon_g[method],
            self.hourly_carbon_g["limit"],
            strict=True,
        ):
            more = a > a_lim + 1e-9
            cheaper = abs(a - a_lim) <= 1e-9 and g < g_lim * (1 - 1e-9) - 1e-6
            count += bool(more or cheaper)
        return count

    def passes(self, method: str = "ours") -> bool:
        mean = float(np.mean(self.attainment[method]))
        limit_mean = float(np.mean(self.attainment["limit"]))
        return (
            self.cut_share(method) >= CUT_GOAL
            and self.unplaced == 0
            and mean >= limit_mean - ATTAINMENT_SLACK
        )


def references(world: World, cells: list[Cell]) -> dict[str, dict[str, list[IntArray]]]:
    """Per cell: the limit's and the p-median's replicas per site, hour by hour."""
    out: dict[str, dict[str, list[IntArray]]] = {}
    for cell in cells:
        cols = world.demand(cell.demand)
        inst = ql.Instance(
            world.rtt_ms[:, cols],
            np.array([world.metros[j].population for j in cols]),
            world.capacity,
            cell.replicas,
        )
        prox = ql.p_median(inst)
        limits = [
            ql.limit(inst, cell.slo_ms, POWER_KW * world.intensity[h]).replicas
            for h in range(len(world.hours))
        ]
        out[cell.key] = {"proximity": [prox] * len(world.hours), "limit": limits}
    return out


def evaluate(
    world: World,
    cells: list[Cell],
    refs: dict[str, dict[str, list[IntArray]]],
    ours: dict[str, OursRun],
) -> list[CellResult]:
    results = []
    for cell in cells:
        cols = world.demand(cell.demand)
        rtt = world.rtt_ms[:, cols]
        weight = np.array([world.metros[j].population for j in cols])
        plans = dict(refs[cell.key])
        plans["ours"] = [np.array(r) for r in ours[cell.key].replicas]
        carbon = {
            k: [ql.carbon_g_per_h(x, world.intensity[h], POWER_KW) for h, x in enumerate(v)]
            for k, v in plans.items()
        }
        att = {k: [ql.attainment(rtt, weight, x, cell.slo_ms) for x in v] for k, v in plans.items()}
        results.append(
            CellResult(cell, carbon, att, sum(ours[cell.key].unplaced), ours[cell.key].place_ms)
        )
    return results


def _att(values: list[float]) -> str:
    return f"{100 * np.mean(values):.1f} / {100 * np.min(values):.1f}"


def _share(r: CellResult, method: str = "ours") -> str:
    """The share of the cut, flagged where it means little: a share over 100% is
    carbon saved by serving less demand (†), or by placing fewer replicas (*)."""
    share = r.cut_share(method)
    text = "-inf" if share == float("-inf") else f"{100 * min(share, 9.99):.0f}%"
    if share > 1.0 + 1e-9:
        text = (">" if share > 9.99 else "") + text + "†"
    if method == "ours" and r.unplaced:
        text += "*"
    return text


def report(world: World, results: list[CellResult], label: str) -> None:
    print(
        f"## Placement quality ({label}): {len(world.sites)} sites, {len(world.metros)} "
        f"metros, {len(world.hours)} hours of 2023 ({world.hours[0]} .. {world.hours[-1]} "
        f"UTC), {world.carbon_column} carbon\n"
    )
    capacity = ", ".join(f"{s.zone} {c}" for s, c in zip(world.sites, world.capacity, strict=True))
    print(f"Site capacity, replicas: {capacity}\n")
    for demand in DEMAND_SETS:
        rs = [r for r in results if r.cell.demand == demand]
        n_metros = len(world.demand(demand))
        print(f"### {demand} demand ({n_metros} metros)\n")
        print(
            "| SLO ms | R | kgCO2 proximity | ours | limit | share of cut "
            "| attainment % ours (mean / worst h) | limit | proximity | unplaced "
            "| place() p50 / p99 ms |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rs:
            kg = {m: f"{r.carbon_g(m) / 1e3:,.0f}" for m in ("proximity", "ours", "limit")}
            print(
                f"| {r.cell.slo_ms:.0f} | {r.cell.replicas} | {kg['proximity']} | "
                f"{kg['ours']} | {kg['limit']} | "
                f"{_share(r)} | {_att(r.attainment['ours'])} | "
                f"{_att(r.attainment['limit'])} | {_att(r.attainment['proximity'])} | "
                f"{r.unplaced} | {np.percentile(r.place_ms, 50):.1f} / "
                f"{np.percentile(r.place_ms, 99):.1f} |"
            )
        print()
    print(
        "kgCO2 summed over the hours. † over 100%: less carbon than the limit by serving "
        "less demand within the SLO; * replicas unplaced (fewer replicas, less carbon).\n"
    )
    print(
        f"Goal per cell: >= {100 * CUT_GOAL:.0f}% of the achievable cut, mean attainment "
        f">= the limit's - {100 * ATTAINMENT_SLACK:.1f} point, no replica unplaced.\n"
    )
    for r in results:
        verdict = "PASS" if r.passes() else "FAIL"
        delta = 100 * (np.mean(r.attainment["ours"]) - np.mean(r.attainment["limit"]))
        low = sum(
            a < b - ATTAINMENT_SLACK
            for a, b in zip(r.attainment["ours"], r.attainment["limit"], strict=True)
        )
        print(
            f"{verdict} {r.cell.key}: cut {_share(r)}, attainment {delta:+.1f} point vs the "
            f"limit (below it by > {100 * ATTAINMENT_SLACK:.1f} in {low}/{len(r.place_ms)} h), "
            f"{r.unplaced} replicas unplaced"
        )
    beaten = [(r.cell.key, r.beats_limit()) for r in results if r.beats_limit()]
    if beaten:
        print(f"\nWARNING: ours beat the limit (the limit is wrong) in: {beaten}")
    passed = sum(r.passes() for r in results)
    all_ms = np.concatenate([r.place_ms for r in results])
    print(
        f"\n{passed}/{len(results)} cells pass. place(): {len(all_ms)} calls, p50 "
        f"{np.percentile(all_ms, 50):.1f} ms, p99 {np.percentile(all_ms, 99):.1f} ms."
    )


def report_old(new: list[CellResult], old: list[CellResult], rev: str) -> None:
    print(f"\n## Old objective ({rev}: weighted scores, SLO on the mean RTT) vs new\n")
    print("| cell | share of cut old | new | attainment % old | new | limit | unplaced old | new |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n, o in zip(new, old, strict=True):
        print(
            f"| {n.cell.key} | {_share(o)} | {_share(n)} | "
            f"{100 * np.mean(o.attainment['ours']):.1f} | "
            f"{100 * np.mean(n.attainment['ours']):.1f} | "
            f"{100 * np.mean(n.attainment['limit']):.1f} | {o.unplaced} | {n.unplaced} |"
        )
    print(
        f"\nCells passing: old {sum(o.passes() for o in old)}/{len(old)}, "
        f"new {sum(n.passes() for n in new)}/{len(new)}."
    )


def plot(results: list[CellResult], path: Path, old: list[CellResult] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r.cell.key for r in results]
    x = np.arange(len(results))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 7.5), sharex=True)
    width = 0.4 if old else 0.8
    top.bar(
        x, [100 * float(np.clip(r.cut_share(), -0.5, 1.5)) for r in results], width, label="ours"
    )
    if old:
        top.bar(
            x + width,
            [100 * float(np.clip(o.cut_share(), -0.5, 1.5)) for o in old],
            width,
            label="previous objective",
        )
    top.axhline(100 * CUT_GOAL, color="k", linestyle="--", linewidth=1, label="goal")
    top.set_ylabel("share of the achievable cut (%, clipped to -50..150)")
    top.set_title("Carbon cut against the limit, and attainment, per cell (demand/SLO ms/R)")
    top.legend(fontsize=8)
    for method, marker, size in (("ours", "o", 40), ("proximity", "x", 50), ("limit", "_", 400)):
        bottom.scatter(
            x,
            [100 * np.mean(r.attainment[method]) for r in results],
            marker=marker,
            s=size,
            linewidths=2,
            label=method,
        )
    bottom.set_ylabel("demand within the SLO (%), mean")
    bottom.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    bottom.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _numbers(text: str, kind: type) -> tuple:
    try:
        return tuple(kind(v) for v in text.split(","))
    except ValueError as err:
        raise SystemExit(
            f"placement_quality: expected comma-separated numbers, got {text!r}"
        ) from err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the shared data directory")
    parser.add_argument("--hours", type=int, default=52, help="hours of 2023 to sample")
    parser.add_argument("--seed", type=int, default=0, help="hour offsets and site capacities")
    parser.add_argument("--carbon", default="direct", choices=("direct", "lca"), help="intensity")
    parser.add_argument("--capacity", default="3,8", help="replicas a site hosts: low,high")
    parser.add_argument("--sites", default="", help="ZONE=REGION,... to move sites")
    parser.add_argument(
        "--slo-ms", default=",".join(f"{v:g}" for v in SLOS_MS), help="SLOs of the cells"
    )
    parser.add_argument(
        "--replicas", default=",".join(str(r) for r in REPLICAS), help="R of the cells"
    )
    parser.add_argument(
        "--scheduler-rev", default="", help="run ours on this git revision (default: the tree)"
    )
    parser.add_argument(
        "--old-rev", default=OLD_REV, help="previous objective to compare with ('' skips)"
    )
    parser.add_argument("--plot", type=Path, default=PLOT, help="where the PNG goes")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    low, high = _numbers(args.capacity, int)
    sites = dict(kv.split("=", 1) for kv in args.sites.split(",") if "=" in kv)
    world = load_world(args.data, args.hours, args.seed, args.carbon, (low, high), sites)
    cells = make_cells(_numbers(args.slo_ms, float), _numbers(args.replicas, int))
    if args.worker:
        json.dump({k: dataclasses.asdict(v) for k, v in run_ours(world, cells).items()}, sys.stdout)
        return
    t0 = time.perf_counter()
    refs = references(world, cells)
    ref_s = time.perf_counter() - t0
    ours = run_ours_at(args.scheduler_rev, args) if args.scheduler_rev else run_ours(world, cells)
    results = evaluate(world, cells, refs, ours)
    label = f"scheduler at {args.scheduler_rev}" if args.scheduler_rev else "working tree"
    report(world, results, label)
    print(
        f"References (p-median + {len(results) * len(world.hours)} lexicographic MILPs, "
        f"HiGHS): {ref_s:.1f} s."
    )
    old = None
    if args.old_rev:
        old = evaluate(world, cells, refs, run_ours_at(args.old_rev, args))
        report_old(results, old, args.old_rev)
    plot(results, args.plot, old)
    shown = args.plot.relative_to(REPO) if args.plot.is_relative_to(REPO) else args.plot
    print(f"Plot: {shown}")


if __name__ == "__main__":
    main()

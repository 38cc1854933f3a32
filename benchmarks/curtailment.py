"""A 3 MW site asked to cut its draw: how fast, how far and how cleanly the fleet sheds load.

On a hollow fleet replaying real hours (`tpctl up --fleet`, the simulated clock
at `--speed` simulated seconds a wall second): factory-frankfurt (3 MW, grid
zone DE-LU replayed from the 2023 extract, 3 MWp of PV) carries six
deployments of a 405B-class model (16 H100 a replica, 20.4 kW) for users in
five German cities, latency SLO 40 ms. Two sites within the SLO have room:
Warsaw and Prague, on dirtier grids (modelled country figures), so that load
sits in Frankfurt until it must leave. (The two are cordoned while the
deployments start, so that every replica starts in Frankfurt.)

Then `tpctl curtail factory-frankfurt --to BUDGET --for 4h`, with BUDGET set so
that the site must shed `--shed` of its draw. Every `--poll` wall seconds the
benchmark reads every node's draw and budget and every deployment's SLO
attainment, through the Fleet API. It reports:

- time to shed: wall seconds from the command until the site draws at most
  the lowered budget (and the share of draw shed by 30 s);
- the hold: the site's draw stays within the budget until the event ends
  (4 simulated hours);
- energy moved: the replicas' kW moved away and the kWh shed over the event
  (the Curtailment's own accounting, in simulated hours);
- SLO attainment throughout (the lowest of any deployment at any poll), and
  demand-SLO breaches (polls with any deployment below 100%);
- power-budget violations: polls where a site draws more than its budget
  (for the curtailed site, the lowered budget once it first fit);
- restore time: wall seconds from the event's end until the site draws
  90% of its baseline again (re-planning brings load back when it pays).

The baseline beside them: the site's draw before the event, and the public
field trial the goal is set against (25% for 3 h; 30-35% within 30 s).

    .venv/bin/python -m benchmarks.curtailment
    .venv/bin/python -m benchmarks.curtailment --speed 60 --shed 0.4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controlplane.localfleet.places import grid_extract
from controlplane.localfleet.recorder import local_client
from controlplane.resources import Curtailment, ModelDeployment, Node

TPCTL = str(Path(sys.executable).parent / "tpctl")
SITE = "factory-frankfurt"
RECEIVERS = ("factory-warsaw", "factory-prague")
DEPLOYMENTS = 6
REPLICAS = 12
REPLICA_GPUS = 16
REPLICA_KW = 20.4  # two 8-GPU H100 servers at 10.2 kW
BUDGET_KW = 3000.0
IDLE_SHARE = 0.1  # a hollow node's draw with nothing running, as a share of its budget
HOLD_S = 4 * 3600.0
DEMAND = [
    {"name": "Frankfurt", "lat": 50.11, "lon": 8.68, "weight": 2.3},
    {"name": "Berlin", "lat": 52.52, "lon": 13.40, "weight": 3.6},
    {"name": "Munich", "lat": 48.14, "lon": 11.58, "weight": 1.5},
    {"name": "Hamburg", "lat": 53.55, "lon": 9.99, "weight": 1.8},
    {"name": "Cologne", "lat": 50.94, "lon": 6.96, "weight": 1.1},
]


def _factory(
    name: str, lat: float, lon: float, country: str, city: str, energy: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "tokenplane.io/v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"site": city.lower()}},
        "spec": {
            "tier": "factory",
            "location": {
                "lat": lat,
                "lon": lon,
                "region": "europe",
                "country": country,
                "city": city,
            },
            "capacity": {"gpus": [{"model": "H100", "memoryGb": 80, "count": 1200}]},
            "power": {"budgetKw": BUDGET_KW, "pue": 1.25},
        },
        "agent": {"energy": energy},
    }


def fleet_documents() -> list[dict[str, Any]]:
    solar = {"capacityKwp": BUDGET_KW, "tiltDeg": 25, "azimuthDeg": 180}
    docs = [
        _factory(
            SITE,
            50.11,
            8.68,
            "DE",
            "Frankfurt",
            {"source": "replay", "zone": "DE-LU", "path": str(grid_extract()), "solar": solar},
        ),
        _factory("factory-warsaw", 52.23, 21.01, "PL", "Warsaw", {"source": "modelled"}),
        _factory("factory-prague", 50.09, 14.42, "CZ", "Prague", {"source": "modelled"}),
    ]
    for i in range(DEPLOYMENTS):
        docs.append(
            {
                "apiVersion": "tokenplane.io/v1",
                "kind": "ModelDeployment",
                "metadata": {"name": f"llm-{i}"},
                "spec": {
                    "model": {"name": "llama-3.1-405b-instruct", "runtime": "vllm"},
                    "replicas": REPLICAS,
                    "resources": {
                        "gpus": REPLICA_GPUS,
                        "gpuModel": "H100",
                        "gpuMemoryGb": 80,
                        "powerKw": REPLICA_KW,
                    },
                    "demand": DEMAND,
                    "latencySloMs": 40,
                    "placement": {"tiers": ["factory"]},
                },
            }
        )
    return docs


@dataclass
class Poll:
    wall_s: float  # since the curtail command
    draw_kw: dict[str, float]
    budget_kw: dict[str, float]
    attainment: float  # lowest of the deployments
    phase: str
    energy_shed_kwh: float


@dataclass
class Run:
    baseline_kw: float
    budget_kw: float
    polls: list[Poll] = field(default_factory=list)


def _tpctl(env: dict[str, str], *args: str, timeout_s: float = 900) -> str:
    done = subprocess.run(
        [TPCTL, *args], capture_output=True, text=True, env=env, timeout=timeout_s
    )
    if done.returncode != 0:
        raise RuntimeError(f"tpctl {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    return done.stdout


def _poll(server: str, started: float, event: str) -> Poll:
    client = local_client(server)
    nodes = [n for n in client.list("Node")[0] if isinstance(n, Node)]
    deployments = [d for d in client.list("ModelDeployment")[0] if isinstance(d, ModelDeployment)]
    curtailment = client.get("Curtailment", event)
    assert isinstance(curtailment, Curtailment)
    draw = {}
    budget = {}
    for n in nodes:
        energy = n.status.energy if n.status else None
        draw[n.name] = energy.it_draw_kw if energy else 0.0
        budget[n.name] = energy.budget_kw if energy and energy.budget_kw else n.spec.power.budget_kw
    attainment = min(
        (d.status.attainment if d.status and d.status.attainment is not None else 0.0)
        for d in deployments
    )
    return Poll(
        time.monotonic() - started,
        draw,
        budget,
        attainment,
        curtailment.status.phase,
        curtailment.status.energy_shed_kwh,
    )


def measure(speed: float, shed: float, poll_s: float, clock_start: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tp-curtail-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENPLANE_", "TPCTL_"))}
        env |= {"TPCTL_CONFIG": str(tmp / "config.yaml"), "TOKENPLANE_STATE_DIR": str(tmp / "up")}
        # Warsaw and Prague wait cordoned until every replica runs in Frankfurt.
        fleet = tmp / "fleet.yaml"
        docs = fleet_documents()
        for d in docs:
            if d["metadata"]["name"] in RECEIVERS:
                d["spec"]["unschedulable"] = True
        fleet.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        _tpctl(
            env,
            "up",
            "--detach",
            "--fleet",
            str(fleet),
            "--listen",
            "127.0.0.1:0",
            "--clock-speed",
            f"{speed:g}",
            "--clock-start",
            clock_start,
            "--timeout",
            "600s",
        )
        try:
            record = json.loads((tmp / "up" / "up.json").read_text())
            server = record["server"]
            for name in RECEIVERS:
                _tpctl(env, "uncordon", name)
            baseline = _poll_draw(server, SITE)
            budget_kw = round(baseline * (1 - shed))
            started = time.monotonic()
            _tpctl(
                env,
                "curtail",
                SITE,
                "--to",
                f"{budget_kw}kW",
                "--for",
                "4h",
                "--reason",
                "benchmark: grid operator's event",
                "--name",
                "bench-event",
            )
            run = Run(baseline, budget_kw)
            hold_wall_s = HOLD_S / speed
            restore_deadline_s = hold_wall_s + max(120.0, 1800.0 / speed * 4)
            restored_at: float | None = None
            while True:
                poll = _poll(server, started, "bench-event")
                run.polls.append(poll)
                if poll.phase == "Ended" and poll.draw_kw[SITE] >= 0.9 * baseline:
                    restored_at = poll.wall_s
                    break
                if poll.wall_s > restore_deadline_s:
                    break
                time.sleep(poll_s)
            return summarise(run, speed, restored_at)
        finally:
            subprocess.run(
                [TPCTL, "down", "--no-report"], capture_output=True, env=env, timeout=120
            )


def _poll_draw(server: str, name: str) -> float:
    node = local_client(server).get("Node", name)
    assert isinstance(node, Node) and node.status and node.status.energy
    return node.status.energy.it_draw_kw


def summarise(run: Run, speed: float, restored_at: float | None) -> dict[str, Any]:
    polls = run.polls
    fit = next((p for p in polls if p.draw_kw[SITE] <= run.budget_kw), None)
    by_30s = [p for p in polls if p.wall_s <= 30.0]
    shed_by_30s = max((1 - p.draw_kw[SITE] / run.baseline_kw for p in by_30s), default=0.0)
    active = [p for p in polls if p.phase == "Active"]
    ended_at = next((p.wall_s for p in polls if p.phase == "Ended"), None)
    held = [p for p in active if fit is not None and p.wall_s >= fit.wall_s]
    violations = 0
    for p in polls:
        over = [n for n, kw in p.draw_kw.items() if n != SITE and kw > p.budget_kw[n] + 1e-6]
        site_limit = run.budget_kw if p in held else p.budget_kw[SITE]
        violations += bool(over) or p.draw_kw[SITE] > site_limit + 1e-6
    moved_kw = run.baseline_kw - min(p.draw_kw[SITE] for p in active) if active else 0.0
    return {
        "clock_speed": speed,
        "site_budget_kw": BUDGET_KW,
        "baseline_draw_kw": round(run.baseline_kw),
        "lowered_budget_kw": run.budget_kw,
        "asked_shed_share": round(1 - run.budget_kw / run.baseline_kw, 3),
        "time_to_shed_s": None if fit is None else round(fit.wall_s, 1),
        "shed_share_by_30s": round(shed_by_30s, 3),
        "held_simulated_h": None
        if ended_at is None or fit is None
        else round((ended_at - fit.wall_s) * speed / 3600, 2),
        "draw_within_budget_while_held": all(p.draw_kw[SITE] <= run.budget_kw for p in held),
        "moved_kw": round(moved_kw),
        "replicas_moved": round(moved_kw / REPLICA_KW),
        "energy_shed_kwh": round(polls[-1].energy_shed_kwh),
        "min_slo_attainment": round(min(p.attainment for p in polls), 4),
        "demand_slo_breaches": sum(p.attainment < 1.0 for p in polls),
        "power_budget_violations": violations,
        "restore_s_after_end": None
        if restored_at is None or ended_at is None
        else round(restored_at - ended_at, 1),
        "polls": len(polls),
        "field_trial_baseline": "25% for 3 h; 30-35% within 30 s, held up to 10 h",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=120.0, help="simulated s per wall s")
    parser.add_argument("--shed", type=float, default=0.4, help="share of draw to shed")
    parser.add_argument("--poll", type=float, default=0.5, help="wall seconds between polls")
    parser.add_argument("--clock-start", default="2023-07-14T09:00:00Z")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    print(json.dumps(measure(args.speed, args.shed, args.poll, args.clock_start)), flush=True)


if __name__ == "__main__":
    main()

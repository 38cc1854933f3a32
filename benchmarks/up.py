"""How long `tpctl up` takes on this machine, and how large a hollow fleet it carries.

For each fleet size: `tpctl up --detach` on a fresh state dir (default fleet
of that many nodes, sample deployments, the server with local Ray), timed
from the command to its return, which is when every sample deployment is
Running (the record's `running_after_s` is the same figure from inside). Then,
with the fleet settled on a fast clock (so re-planning and solar keep
changing), the cost over a window: CPU as a share of one core and RSS of the
server, of Ray's processes (the server's session less the server), of the
hollow agents' process and of the recorder; the share of nodes Ready; and the
re-planning's moves. Then `tpctl down`, timed, and a check that no process is
left.

    .venv/bin/python -m benchmarks.up                  # 100 (the default fleet) and 1,000
    .venv/bin/python -m benchmarks.up --nodes 1000 2000 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

TPCTL = str(Path(sys.executable).parent / "tpctl")
CLOCK = ["--clock-speed", "1800", "--clock-start", "2026-06-21T12:00:00Z"]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENPLANE_", "TPCTL_"))}
    return env | {
        "TPCTL_CONFIG": str(tmp / "config.yaml"),
        "TOKENPLANE_STATE_DIR": str(tmp / "state"),
    }


def _session(sid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (psutil.Error, ProcessLookupError):
            continue
    return members


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def _rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 1e6


def measure(nodes: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tp-up-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = _env(tmp)
        started = time.monotonic()
        up = subprocess.run(
            [
                TPCTL,
                "up",
                "--detach",
                "--nodes",
                str(nodes),
                "--listen",
                "127.0.0.1:0",
                "--timeout",
                "600s",
                *CLOCK,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        up_s = time.monotonic() - started
        record = json.loads((tmp / "state" / "up.json").read_text())
        try:
            if up.returncode != 0:
                raise RuntimeError(f"tpctl up failed:\n{up.stderr}{up.stdout}")
            pids = record["pids"]
            groups = {
                "server": [psutil.Process(pids["server"])],
                "ray": [p for p in _session(pids["server"]) if p.pid != pids["server"]],
                "agents": [psutil.Process(pids["agents"])],
                "recorder": [psutil.Process(pids["recorder"])],
            }
            before = {k: _cpu_s(v) for k, v in groups.items()}
            t0 = time.monotonic()
            time.sleep(seconds)
            window = time.monotonic() - t0
            cost = {
                k: {
                    "cpu_core_share": round((_cpu_s(v) - before[k]) / window, 3),
                    "rss_mb": round(_rss_mb(v)),
                }
                for k, v in groups.items()
            }
            report = json.loads(
                subprocess.run(
                    [TPCTL, "report", "-o", "json"],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=120,
                    check=True,
                ).stdout
            )
            nodes_json = json.loads(
                subprocess.run(
                    [TPCTL, "get", "nodes", "-o", "json"],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=120,
                    check=True,
                ).stdout
            )
            ready = sum(
                1
                for n in nodes_json["items"]
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in n["status"]["conditions"]
                )
            )
        finally:
            t1 = time.monotonic()
            down = subprocess.run(
                [TPCTL, "down", "--no-report"], capture_output=True, text=True, env=env, timeout=120
            )
            down_s = time.monotonic() - t1
        left = [p.pid for sid in record["pids"].values() for p in _session(sid)]
        return {
            "nodes": nodes,
            "up_to_all_running_s": round(up_s, 1),
            "running_after_s": round(record["running_after_s"], 1),
            "nodes_ready": ready,
            "window_s": round(window, 1),
            "cost": cost,
            "moves": report["fleet"]["moves"],
            "over_budget": report["over_budget"],
            "down_s": round(down_s, 1),
            "down_ok": down.returncode == 0,
            "left_running": left,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    for n in args.nodes:
        print(json.dumps(measure(n, args.seconds)), flush=True)


if __name__ == "__main__":
    main()

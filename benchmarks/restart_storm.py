"""Restart storm: kill -9 a server holding a fleet, keep it down, bring it back.

What a fleet does when its control plane crashes decides whether the control
plane can come back at all: agents that retry in step hammer a restarting
server with connects, and a server that takes its returning fleet for dead
replaces replicas that never stopped running. Measured here:

- **connects a second** (peak and mean) from kill to the whole fleet back,
  counted in the agents: each attempt is a new channel, so one TCP connect
  (hb_agents.py, CLOCK_MONOTONIC seconds);
- **the spread of the return**: when each node is Ready again after the
  restart, against the reconnect window the server told the agents;
- **replicas**: a deployment placed on the fleet before the crash must come out
  with the same replicas, none replaced, none lost.

The baseline in the same run is the reconnect policy this replaced
(`--legacy-backoff`: a uniform 0-0.5 s wait after every failure). Both runs
use the same server, fleet and outage, so the machine's load (reported beside
each figure) is the only difference the two do not share.

    python benchmarks/restart_storm.py [--nodes 1000] [--outage 30] [--replicas 40]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heartbeats as hb  # the sibling benchmark: its process helpers

from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc

TARGET_PEAK_SHARE = 0.1  # connects a second, as a share of the fleet (issue 11)

DEPLOYMENT = """
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {{name: storm}}
spec:
  model: {{name: storm-model}}
  replicas: {replicas}
  resources: {{gpus: 1, gpuModel: L4, powerKw: 0.3}}
  demand: [{{lat: 48.14, lon: 11.58}}, {{lat: 40.4, lon: -3.7}}]
"""


@dataclass
class StormRun:
    policy: str
    nodes: int
    outage_s: float
    window_s: float = 0.0  # the reconnect window the server told the agents
    back: int = 0  # nodes Ready again after the restart
    back_s: list[float] = field(default_factory=list)  # restart -> each node Ready
    peak_per_s: int = 0
    mean_per_s: float = 0.0
    attempts: int = 0
    replicas_before: list[str] = field(default_factory=list)
    replicas_after: list[str] = field(default_factory=list)
    load: float = 0.0  # 1-minute load average when the fleet was back

    @property
    def replaced(self) -> int:
        return len(set(self.replicas_before) - set(self.replicas_after))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(work: Path, address: str) -> hb.Proc:
    stats = work / "server.json"
    stats.unlink(missing_ok=True)
    server = hb.Proc(
        [
            hb.PYTHON,
            str(hb.HERE / "hb_server.py"),
            "real",
            "--listen",
            address,
            "--stats",
            str(stats),
            "--state-dir",
            str(work),
        ],
        work / f"server-{time.monotonic():.0f}.log",
    )
    if not hb.wait_for(lambda: "listening on" in server.tail() or not server.alive(), 60):
        raise RuntimeError(f"server did not start:\n{server.tail()}")
    if not server.alive():
        raise RuntimeError(f"server did not start:\n{server.tail()}")
    return server


def ready(work: Path) -> int:
    return int(hb.read_json(work / "server.json").get("ready", 0))


def replica_names(address: str, phase: str = "Running") -> list[str]:
    with grpc.insecure_channel(address) as channel:
        stub = fleet_pb2_grpc.FleetServiceStub(channel)
        items = stub.List(fleet_pb2.ListRequest(kind="Replica"), timeout=30).items
    return sorted(i.replica.metadata.name for i in items if i.replica.status.phase == phase)


def attempts_by_s(stats: list[Path]) -> dict[int, int]:
    total: dict[int, int] = {}
    for path in stats:
        for second, count in hb.read_json(path).get("attempts_by_s", {}).items():
            total[int(second)] = total.get(int(second), 0) + int(count)
    return total


def run_storm(
    policy: str, args: argparse.Namespace, work: Path, log: Callable[[str], None]
) -> StormRun:
    work.mkdir(parents=True)
    run = StormRun(policy, args.nodes, args.outage)
    address = f"127.0.0.1:{free_port()}"
    server = start_server(work, address)
    agents: list[hb.Proc] = []
    stats: list[Path] = []
    try:
        per = math.ceil(args.nodes / args.agent_procs)
        for i in range(args.agent_procs):
            stats.append(work / f"agents-{i}.json")
            argv = [
                hb.PYTHON,
                str(hb.HERE / "hb_agents.py"),
                "--server",
                address,
                "--token-file",
                str(work / "bootstrap-token"),
                "--first",
                str(i * per),
                "--count",
                str(min(per, args.nodes - i * per)),
                "--stats",
                str(stats[-1]),
                "--ramp",
                "400",
            ]
            if policy == "legacy":
                argv.append("--legacy-backoff")
            agents.append(hb.Proc(argv, work / f"agents-{i}.log", nice=10))
        if not hb.wait_for(lambda: ready(work) >= args.nodes, 120, 0.25):
            raise RuntimeError(f"{policy}: only {ready(work)} of {args.nodes} joined")
        log(f"  {policy}: {args.nodes} nodes Ready")
        (deployment,) = load_manifests(DEPLOYMENT.format(replicas=args.replicas))
        with grpc.insecure_channel(address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(deployment)), timeout=30)
        if not hb.wait_for(lambda: len(replica_names(address)) >= args.replicas, 60, 0.5):
            raise RuntimeError(f"{policy}: replicas did not all run")
        run.replicas_before = replica_names(address)
        run.window_s = hb.read_json(work / "server.json").get("reconnect_window_s", 0.0)
        log(f"  {policy}: {len(run.replicas_before)} replicas Running; kill -9 the server")
        killed = time.monotonic()
        server.signal(signal.SIGKILL)
        server.popen.wait()
        server.stop()
        time.sleep(args.outage)
        restarted = time.monotonic()
        server = start_server(work, address)
        hb.wait_for(lambda: ready(work) >= args.nodes, args.outage + 90, 0.25)
        all_back = time.monotonic()
        run.back = ready(work)
        run.load = os.getloadavg()[0]
        transitions = hb.transitions_after(
            work / "server.transitions", restarted, "node", ready=True
        )
        run.back_s = sorted(transitions.values())
        hb.wait_for(lambda: len(replica_names(address)) >= args.replicas, 30, 0.5)
        run.replicas_after = replica_names(address)
        time.sleep(1.0)  # the agents' stats files are rewritten every 0.25 s
        per_s = {s: n for s, n in attempts_by_s(stats).items() if int(killed) <= s <= int(all_back)}
        run.attempts = sum(per_s.values())
        run.peak_per_s = max(per_s.values(), default=0)
        run.mean_per_s = run.attempts / max(1.0, all_back - killed)
        log(f"  {policy}: {run.back} back, peak {run.peak_per_s} connects/s")
    finally:
        for p in agents:
            p.stop()
        server.stop()
    return run


def report(runs: list[StormRun]) -> str:
    new, old = runs[1], runs[0]

    def pct(xs: list[float], q: float) -> str:
        if not xs:
            return "-"
        return f"{statistics.quantiles(xs, n=100)[int(q) - 1]:.1f}" if len(xs) > 1 else "-"

    def row(label: str, fn: Callable[[StormRun], str], target: str = "") -> str:
        return f"| {label} | {fn(new)} | {fn(old)} | {target} |"

    n = new.nodes
    lines = [
        "| | ours (full jitter, server's window) | baseline (0-0.5 s, as before) | target |",
        "|---|---|---|---|",
        row("machine load average (1 min) when back", lambda r: f"{r.load:.1f}"),
        row("nodes back after the restart", lambda r: f"{r.back:,} of {r.nodes:,}"),
        row(
            "connects/s, peak (kill → all back)",
            lambda r: f"{r.peak_per_s:,} ({r.peak_per_s / r.nodes:.2f} x nodes)",
            f"≤ {TARGET_PEAK_SHARE * n:,.0f} (nodes/10)",
        ),
        row("connects/s, mean", lambda r: f"{r.mean_per_s:,.0f}"),
        row("connects in all", lambda r: f"{r.attempts:,}"),
        row("reconnect window told by the server (s)", lambda r: f"{r.window_s:g}"),
        row(
            "restart → node Ready: p10 / p50 / p90 / max (s)",
            lambda r: (
                f"{pct(r.back_s, 10)} / {pct(r.back_s, 50)} / {pct(r.back_s, 90)} / "
                f"{max(r.back_s, default=0):.1f}"
            ),
            "spread over the window",
        ),
        row(
            "replicas replaced (of those Running before)",
            lambda r: f"{r.replaced} of {len(r.replicas_before)}",
            "0",
        ),
    ]
    ratio = new.peak_per_s / old.peak_per_s if old.peak_per_s else 0
    lines.append(f"\nPeak connects/s, ours ÷ baseline: **{ratio:.2f}**")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the server is down")
    parser.add_argument("--replicas", type=int, default=40)
    parser.add_argument("--agent-procs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="keep logs and stats here")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    hb.raise_fd_limit()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="restart-storm-"))
    started = time.monotonic()
    runs = [run_storm(p, args, work / p, log) for p in ("legacy", "ours")]
    print(report(runs))
    print(
        f"\n({time.monotonic() - started:.0f} s; {args.nodes:,} hollow nodes in "
        f"{args.agent_procs} processes, a connection each; {args.outage:g} s outage; "
        f"{os.cpu_count()} cores shared with other processes)"
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""How fast tpctl answers: start-up beside `python -c pass`, and `tpctl get nodes` against a
live fleet of 100 and 1,000 nodes beside `tpctl version --client` plus one RPC round trip.

Targets: `tpctl --help` under 0.3 s more than bare Python (issue 5); `tpctl get nodes`
against 1,000 nodes within 2x of `tpctl version --client` plus one RPC round trip
(issue 15). The round trip is measured from a warm client in this process, twice: the
cheapest call of the API (List of an empty kind), and the very List that `get nodes`
sends (the server's rendered table), which carries the server's own work.

With --nodes, a tokenplane-server (embedded store, inline placement) and one hollow
agent process serving that many nodes are started on loopback for each size, and
stopped after. Commands run interleaved, round after round, so that a busy machine
slows all of them alike; medians are reported, with p90.

    .venv/bin/python benchmarks/cli_startup.py --runs 30
    .venv/bin/python benchmarks/cli_startup.py --nodes 100,1000 --runs 15 --json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
TARGET_EXTRA_S = 0.3
GET_NODES_FACTOR = 2.0
START_TIMEOUT_S = 120.0
HEAVY = ("numpy", "ray", "pydantic", "rich")


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def _stats(values: list[float]) -> dict[str, float]:
    median = statistics.median(values)
    p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else median
    return {"median_s": round(median, 4), "p90_s": round(p90, 4)}


def _interleaved(
    commands: dict[str, list[str]], env: dict[str, str], runs: int, warmup: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(warmup + runs):
        for name, argv in commands.items():
            elapsed = _time(argv, env)
            if round_ >= warmup:
                samples[name].append(elapsed)
    return samples


def _fleet_file(path: Path, n: int) -> None:
    docs = []
    for i in range(n):
        docs.append(
            f"apiVersion: tokenplane.io/v1\nkind: Node\nmetadata: {{name: node-{i}, labels: "
            f"{{site: s{i % 10}}}}}\nspec:\n  tier: edge\n  location: {{lat: {45 + i % 10}, "
            f"lon: {i % 20 - 5}, region: eu-west, country: DE}}\n  capacity: {{gpus: "
            f"[{{model: L4, memoryGb: 24, count: 4}}]}}\n  power: {{budgetKw: 20}}\nstatus:\n"
            f"  energy: {{renewableKw: {i % 7}, carbonGPerKwh: {100 + i % 30}, "
            f"pricePerKwh: 0.2}}\n"
        )
    path.write_text("---\n".join(docs))


def _wait(check: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} not within {START_TIMEOUT_S:.0f}s; see {log}")
        time.sleep(0.25)


@contextmanager
def live_fleet(n: int, env: dict[str, str]) -> Iterator[str]:
    """A server and `n` hollow nodes, all Ready; yields the server's address."""
    root = Path(tempfile.mkdtemp(prefix=f"tpctl-bench-{n}-"))
    fleet = root / "fleet.yaml"
    _fleet_file(fleet, n)
    server_log, agents_log = root / "server.log", root / "agents.log"
    with open(server_log, "wb") as out:
        server = subprocess.Popen(
            [
                str(BIN / "tokenplane-server"),
                "--listen",
                "127.0.0.1:0",
                "--state-dir",
                str(root / "state"),
                "--scheduler",
                "inline",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    agents: subprocess.Popen[bytes] | None = None
    try:
        found: list[str] = []

        def listening() -> bool:
            match = re.search(r"listening on (\S+)", server_log.read_text(errors="replace"))
            if match:
                found.append(match[1])
            return bool(match) or server.poll() is not None

        _wait(listening, "the server", server_log)
        if not found:
            raise SystemExit(f"the server exited; see {server_log}")
        address = found[0]
        with open(agents_log, "wb") as out:
            agents = subprocess.Popen(
                [
                    str(BIN / "tokenplane-agent"),
                    "--hollow",
                    "--fleet",
                    str(fleet),
                    "--server",
                    address,
                    "--token-file",
                    str(root / "state" / "bootstrap-token"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

        def all_ready() -> bool:
            out = subprocess.run(
                [str(BIN / "tpctl"), "get", "nodes", "--server", address, "--no-headers"],
                capture_output=True,
                text=True,
                env=env,
            )
            return out.stdout.count(" Ready ") >= n

        _wait(all_ready, f"{n} nodes Ready", agents_log)
        yield address
    finally:
        for proc in (agents, server):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def round_trips(address: str, runs: int) -> dict[str, float]:
    """Median round trip of one RPC from a warm client: the cheapest List, and get's own."""
    import grpc

    from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc

    stub = fleet_pb2_grpc.FleetServiceStub(grpc.insecure_channel(address))
    requests = {
        "cheapest": fleet_pb2.ListRequest(kind="ModelDeployment"),
        "get_nodes": fleet_pb2.ListRequest(kind="Node", as_table=True),
    }
    out = {}
    for name, request in requests.items():
        stub.List(request, timeout=30)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            stub.List(request, timeout=30)
            times.append(time.perf_counter() - start)
        out[name] = round(statistics.median(times), 4)
    return out


def heavy_imports(argv: list[str], env: dict[str, str]) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    return sorted(modules & set(HEAVY))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="Rounds to time (default 30).")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed rounds first.")
    parser.add_argument(
        "--nodes",
        default="",
        help="Fleet sizes to time get nodes against, "
        "e.g. 100,1000 (a server and hollow agents are started for each).",
    )
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args()

    tpctl = str(BIN / "tpctl")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TPCTL_", "TOKENPLANE_"))}
    env["TPCTL_CONFIG"] = str(Path(tempfile.mkdtemp(prefix="tpctl-bench-")) / "config.yaml")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "tpctl --help": [tpctl, "--help"],
        "tpctl version --client": [tpctl, "version", "--client"],
        "tpctl get --help": [tpctl, "get", "--help"],
    }
    samples = _interleaved(commands, env, args.runs, args.warmup)
    base = statistics.median(samples["python -c pass"])
    results: list[dict[str, Any]] = []
    for name, values in samples.items():
        s = _stats(values)
        results.append(
            {
                "command": name,
                **s,
                "extra_s": round(s["median_s"] - base, 4),
                "ratio": round(s["median_s"] / base, 2),
            }
        )
    help_extra = next(r["extra_s"] for r in results if r["command"] == "tpctl --help")
    fleets = []
    for n in [int(x) for x in args.nodes.split(",") if x.strip()]:
        with live_fleet(n, env) as address:
            get_nodes = [tpctl, "get", "nodes", "--server", address]
            timed = _interleaved(
                {"version": commands["tpctl version --client"], "get nodes": get_nodes},
                env,
                args.runs,
                args.warmup,
            )
            rtt = round_trips(address, args.runs)
            heavy = heavy_imports(get_nodes, env)
        version_s = statistics.median(timed["version"])
        get_s = _stats(timed["get nodes"])
        fleets.append(
            {
                "nodes": n,
                "get_nodes": get_s,
                "version_client_s": round(version_s, 4),
                "rpc_cheapest_s": rtt["cheapest"],
                "rpc_get_nodes_s": rtt["get_nodes"],
                "ratio_vs_cheapest_rpc": round(
                    get_s["median_s"] / (version_s + rtt["cheapest"]), 2
                ),
                "ratio_vs_its_rpc": round(get_s["median_s"] / (version_s + rtt["get_nodes"]), 2),
                "heavy_imports": heavy,
            }
        )
    verdict = {
        "target_extra_s": TARGET_EXTRA_S,
        "help_extra_s": help_extra,
        "met": help_extra < TARGET_EXTRA_S,
        "runs": args.runs,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps({"results": results, "fleets": fleets, **verdict}, indent=2))
        return
    print(f"{'command':<26}{'median':>9}{'p90':>9}{'extra':>9}{'ratio':>8}")
    for r in results:
        print(
            f"{r['command']:<26}{r['median_s']:>8.3f}s{r['p90_s']:>8.3f}s"
            f"{r['extra_s']:>+8.3f}s{r['ratio']:>7.1f}x"
        )
    print(
        f"\ntpctl --help costs {help_extra:+.3f} s over python -c pass "
        f"(target < {TARGET_EXTRA_S} s): {'met' if verdict['met'] else 'NOT met'}"
    )
    for f in fleets:
        print(
            f"\ntpctl get nodes, {f['nodes']} nodes: {f['get_nodes']['median_s']:.3f} s "
            f"(p90 {f['get_nodes']['p90_s']:.3f}); version --client "
            f"{f['version_client_s']:.3f} s; RPC round trip {f['rpc_cheapest_s'] * 1000:.1f} ms "
            f"(cheapest), {f['rpc_get_nodes_s'] * 1000:.0f} ms (get's own List)"
        )
        print(
            f"  ratio to version + cheapest RPC: {f['ratio_vs_cheapest_rpc']:.2f}x; to "
            f"version + its own RPC: {f['ratio_vs_its_rpc']:.2f}x (target "
            f"{GET_NODES_FACTOR:g}x); heavy imports: {', '.join(f['heavy_imports']) or 'none'}"
        )
    print(f"\n{args.runs} runs, load {verdict['load_average_1m']} on {verdict['cpus']} CPUs")


if __name__ == "__main__":
    main()

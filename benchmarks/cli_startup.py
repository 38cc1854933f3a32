"""How fast tpctl starts: `tpctl --help` beside `python -c pass`, the floor of any Python CLI.

The target (issue 5) is under 0.3 s more than bare Python. Commands run
interleaved, round after round, so that a busy machine slows all of them alike;
the median of each is reported, with p90, and the difference and ratio to the
baseline. With --server, `tpctl get nodes` against a live server is timed too
(imports, one channel, one List, one table).

    .venv/bin/python benchmarks/cli_startup.py --runs 30
    .venv/bin/python benchmarks/cli_startup.py --server 127.0.0.1:7070 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_EXTRA_S = 0.3


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="Rounds to time (default 30).")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed rounds first.")
    parser.add_argument("--server", help="Also time `tpctl get nodes` against this server.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args()

    tpctl = str(BIN / "tpctl")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "tpctl --help": [tpctl, "--help"],
        "tpctl version --client": [tpctl, "version", "--client"],
        "tpctl get --help": [tpctl, "get", "--help"],
    }
    if args.server:
        commands["tpctl get nodes"] = [tpctl, "get", "nodes", "--server", args.server]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TPCTL_", "TOKENPLANE_"))}
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(args.warmup + args.runs):
        for name, argv in commands.items():
            elapsed = _time(argv, env)
            if round_ >= args.warmup:
                samples[name].append(elapsed)

    base = statistics.median(samples["python -c pass"])
    results = []
    for name, values in samples.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else median
        results.append({"command": name, "median_s": round(median, 4), "p90_s": round(p90, 4),
                        "extra_s": round(median - base, 4), "ratio": round(median / base, 2)})
    help_extra = next(r["extra_s"] for r in results if r["command"] == "tpctl --help")
    verdict = {"target_extra_s": TARGET_EXTRA_S, "help_extra_s": help_extra,
               "met": help_extra < TARGET_EXTRA_S, "runs": args.runs,
               "load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps({"results": results, **verdict}, indent=2))
        return
    print(f"{'command':<26}{'median':>9}{'p90':>9}{'extra':>9}{'ratio':>8}")
    for r in results:
        print(f"{r['command']:<26}{r['median_s']:>8.3f}s{r['p90_s']:>8.3f}s"
              f"{r['extra_s']:>+8.3f}s{r['ratio']:>7.1f}x")
    print(f"\ntpctl --help costs {help_extra:+.3f} s over python -c pass "
          f"(target < {TARGET_EXTRA_S} s): {'met' if verdict['met'] else 'NOT met'}; "
          f"{args.runs} runs, load {verdict['load_average_1m']} on {verdict['cpus']} CPUs")


if __name__ == "__main__":
    main()

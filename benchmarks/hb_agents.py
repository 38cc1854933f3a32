"""The load generator of `benchmarks/heartbeats.py`: the shipped hollow agent, instrumented.

It runs `agents.hollow.build_links` / `run_fleet`, the code behind
`tokenplane-agent --hollow`, so the messages, the stream protocol and the
agent's own per-message cost are the real ones. Benchmark-only changes:

- nodes are built in memory (`--prefix/--first/--count`), not parsed from a
  YAML file: 10k documents take seconds to parse and prove nothing here;
- `--connection-per-node` (the default) gives every node its own TCP
  connection, as real nodes have. Without it gRPC's global subchannel pool
  lets every channel of a process to the same target share ONE connection, so
  a hollow process of 10k nodes is one socket to the server;
- SIGUSR1 makes every link send unthrottled (interval forced to 1 ms,
  whatever the server says), SIGUSR2 returns it to the server's interval:
  that is how the driver offers the same saturating load to both servers;
- a JSON stats file: heartbeats built and handed to gRPC, links connected, and
  connection attempts per second of CLOCK_MONOTONIC (each attempt is a new
  channel, so one TCP connect), for benchmarks/restart_storm.py;
- `--legacy-backoff`: the reconnect policy this replaced (a uniform 0-0.5 s
  wait after every failure, never growing, no window from the server), as the
  restart storm's baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import time
from pathlib import Path
from typing import Any, ClassVar

import grpc

from agents import connection, hollow
from agents.runtime import Runtime
from controlplane.resources import Node, parse_manifest
from tokenplane.v1 import agent_pb2

UNTHROTTLED_INTERVAL_S = 0.001
STATS_PERIOD_S = 0.25
STALL_S = 0.5


class Flags:
    forced_interval_s: float | None = None
    sent = 0
    legacy_backoff = False
    attempts: ClassVar[collections.Counter[int]] = collections.Counter()  # monotonic s -> n
    # This process's event loop woken late by more than STALL_S: monotonic s -> worst lateness.
    stalls: ClassVar[dict[int, float]] = {}


LEGACY_BACKOFF = connection.Backoff(initial_s=0.5, max_s=0.5)


class BenchLink(connection.NodeLink):
    """A NodeLink whose interval the driver can override (the server's value is kept)."""

    @property
    def interval_s(self) -> float:
        forced = Flags.forced_interval_s
        return forced if forced is not None else self._server_interval_s

    @interval_s.setter
    def interval_s(self, value: float) -> None:
        self._server_interval_s = value

    @property
    def reconnect_window_s(self) -> float:
        return 0.0 if Flags.legacy_backoff else self._server_window_s

    @reconnect_window_s.setter
    def reconnect_window_s(self, value: float) -> None:
        self._server_window_s = value

    def _channel(self) -> grpc.aio.Channel:
        Flags.attempts[int(time.monotonic())] += 1
        if Flags.legacy_backoff:
            self._backoff = LEGACY_BACKOFF
        return super()._channel()


class CountingTelemetry:
    def __init__(self, inner: hollow.HollowTelemetry) -> None:
        self._inner = inner

    def __call__(self, runtime: Runtime) -> agent_pb2.Heartbeat:
        Flags.sent += 1
        return self._inner(runtime)


def node_manifest(name: str, i: int) -> dict[str, Any]:
    """The same small node as tests/support/processes.write_fleet, without YAML."""
    return {
        "apiVersion": "tokenplane.io/v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"site": f"site-{i % 10}"}},
        "spec": {
            "tier": "edge",
            "location": {
                "lat": 45 + (i % 10),
                "lon": (i % 20) - 5,
                "region": "eu-west",
                "country": "DE",
            },
            "capacity": {"gpus": [{"model": "L4", "memoryGb": 24, "count": 4}]},
            "power": {"budgetKw": 20},
        },
        "status": {
            "energy": {
                "renewableKw": i % 7,
                "carbonGPerKwh": 100 + 10 * (i % 30),
                "pricePerKwh": 0.2,
            }
        },
    }


def build_nodes(prefix: str, first: int, count: int) -> list[Node]:
    nodes = []
    for i in range(first, first + count):
        node = parse_manifest(node_manifest(f"{prefix}-{i}", i), "bench")
        assert isinstance(node, Node)
        nodes.append(node)
    return nodes


def _write_stats(path: Path, links: list[connection.NodeLink]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "t": time.monotonic(),
                "sent": Flags.sent,
                "connected": sum(1 for link in links if link.connected.is_set()),
                "attempts_by_s": Flags.attempts,
                "stalls_by_s": Flags.stalls,
            }
        )
    )
    os.replace(tmp, path)


async def _main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()

    def unthrottle() -> None:
        Flags.forced_interval_s = UNTHROTTLED_INTERVAL_S

    def throttle() -> None:
        Flags.forced_interval_s = None

    loop.add_signal_handler(signal.SIGUSR1, unthrottle)
    loop.add_signal_handler(signal.SIGUSR2, throttle)
    token = Path(args.token_file).read_text().strip() if args.token_file else "bare"
    links = hollow.build_links(
        build_nodes(args.prefix, args.first, args.count), args.server, token, seed=args.first
    )
    for link in links:
        link._telemetry = CountingTelemetry(link._telemetry)  # type: ignore[arg-type]
    stats = Path(args.stats)
    fleet = asyncio.create_task(hollow.run_fleet(links, ramp_per_s=args.ramp))
    while not fleet.done():
        _write_stats(stats, links)
        before = time.monotonic()
        await asyncio.sleep(STATS_PERIOD_S)
        late_s = time.monotonic() - before - STATS_PERIOD_S
        if late_s > STALL_S:  # this load generator, not the server, fell behind
            second = int(before)
            Flags.stalls[second] = max(late_s, Flags.stalls.get(second, 0.0))
    fleet.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--token-file", help="bootstrap token (the bare server takes any)")
    parser.add_argument("--prefix", default="node")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--ramp", type=float, default=2000.0, help="links started per second")
    parser.add_argument(
        "--shared-connection",
        action="store_true",
        help="let gRPC share one TCP connection between this process's nodes (as shipped)",
    )
    parser.add_argument(
        "--legacy-backoff",
        action="store_true",
        help="the old reconnect policy (uniform 0-0.5 s, never growing): a baseline",
    )
    parser.add_argument(
        "--channel-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a gRPC channel option (what-if runs)",
    )
    args = parser.parse_args()
    options = connection.CHANNEL_OPTIONS
    overrides = list(args.channel_option)
    if not args.shared_connection:
        overrides.append("grpc.use_local_subchannel_pool=1")
    for key, _, value in (o.partition("=") for o in overrides):
        options[:] = [(k, v) for k, v in options if k != key]
        options.append((key, int(value) if value.lstrip("-").isdigit() else value))
    Flags.legacy_backoff = args.legacy_backoff
    hollow.NodeLink = BenchLink  # type: ignore[misc]
    hollow.raise_fd_limit()
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()

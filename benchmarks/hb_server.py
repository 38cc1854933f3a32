"""The two servers `benchmarks/heartbeats.py` compares, each instrumented the same cheap way.

Why a wrapper and not `tokenplane-server` itself: the server exposes no counter
of heartbeats handled nor the instant a node turns NotReady, and asking the
Fleet API for 10k nodes costs the server more than what we measure. So:

- `real`: our `ControlPlane` (the same object `tokenplane-server` runs, same
  config, same gRPC options, SQLite store, inline scheduler), with a counter
  around `InventoryTable.heartbeat` (one Python call per message, ~0.1 µs
  against the ~200 µs a message costs) and every Ready transition stamped with
  CLOCK_MONOTONIC, which is system-wide, so the driver can subtract the instant
  it killed or froze an agent.
- `bare`: the ceiling. A grpc.aio AgentService with the same server options
  that accepts any Join, answers the Hello with Settings like ours, then only
  reads each AgentMessage (the same Heartbeat protobuf, deserialised by gRPC)
  and counts it. Nothing a control plane could do costs less per message.

Both print `listening on HOST:PORT` and write a JSON stats file every 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import grpc

from controlplane.server.app import GRPC_SERVER_OPTIONS
from tokenplane.v1 import agent_pb2, agent_pb2_grpc

STATS_INTERVAL_S = 0.5


class Counters:
    def __init__(self) -> None:
        self.heartbeats = 0
        self.transitions: list[str] = []  # "monotonic name ready reason" lines, not yet written


class StatsWriter:
    """Atomically replaces a small JSON file; appends transitions to a log beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_suffix(".tmp")
        self._log = open(path.with_suffix(".transitions"), "a")  # noqa: SIM115 - process-long

    def write(self, stats: dict[str, Any], counters: Counters) -> None:
        if counters.transitions:
            lines, counters.transitions = counters.transitions, []
            self._log.write("\n".join(lines) + "\n")
            self._log.flush()
        try:
            self._tmp.write_text(json.dumps(stats))
        except OSError as e:  # EMFILE: the server at its descriptor limit; next time
            print(f"stats not written: {e}", file=sys.stderr, flush=True)
            return
        os.replace(self._tmp, self.path)


class BareAgentService(agent_pb2_grpc.AgentServiceServicer):
    """Join accepts anyone; Connect answers the Hello, then reads and counts."""

    def __init__(self, counters: Counters, interval_ms: int) -> None:
        self.counters = counters
        self.interval_ms = interval_ms
        self.sessions = 0

    async def Join(
        self, request: agent_pb2.JoinRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.JoinResponse:
        name = request.node.metadata.name
        return agent_pb2.JoinResponse(node_name=name, node_token="bare", node_uid=name)

    async def Connect(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        first = await context.read()
        if first is grpc.aio.EOF:
            return
        await context.write(
            agent_pb2.ControlMessage(
                settings=agent_pb2.Settings(heartbeat_interval_ms=self.interval_ms)
            )
        )
        counters = self.counters
        self.sessions += 1
        try:
            while True:
                message = await context.read()
                if message is grpc.aio.EOF:
                    break
                counters.heartbeats += 1
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            self.sessions -= 1


async def _serve_bare(args: argparse.Namespace, stats: StatsWriter, stop: asyncio.Event) -> None:
    counters = Counters()
    service = BareAgentService(counters, round(args.heartbeat_interval * 1000))
    server = grpc.aio.server(options=GRPC_SERVER_OPTIONS)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(service, server)
    port = server.add_insecure_port(args.listen)
    await server.start()
    print(f"bare listening on 127.0.0.1:{port}", flush=True)
    while not stop.is_set():
        stats.write(
            {
                "t": time.monotonic(),
                "heartbeats": counters.heartbeats,
                "sessions": service.sessions,
                "ready": service.sessions,
            },
            counters,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STATS_INTERVAL_S)
    await server.stop(1)


async def _serve_real(args: argparse.Namespace, stats: StatsWriter, stop: asyncio.Event) -> None:
    from controlplane.inventory import Transition, liveness
    from controlplane.server import app
    from controlplane.server.config import ServerConfig

    counters = Counters()

    class StampedRecorder(app.ConditionRecorder):
        def add(self, transition: Transition) -> None:
            counters.transitions.append(
                f"{time.monotonic():.6f} {transition.name} {int(transition.ready)} "
                f"{transition.reason}"
            )
            super().add(transition)

    app.ConditionRecorder = StampedRecorder  # type: ignore[misc]
    state_dir = Path(args.state_dir).resolve()
    config = ServerConfig(
        listen=args.listen,
        store=f"sqlite:///{state_dir}/tokenplane.db",
        state_dir=state_dir,
        heartbeat_interval_s=args.heartbeat_interval,
        max_heartbeat_rate=args.max_heartbeat_rate,
        scheduler="inline",
    )
    plane = app.ControlPlane(config)
    table = plane.table
    handle = table.heartbeat

    def counted(slot: int, hb: agent_pb2.Heartbeat, now_s: float) -> Transition | None:
        counters.heartbeats += 1
        return handle(slot, hb, now_s)

    table.heartbeat = counted  # type: ignore[method-assign]
    await plane.start()
    print(f"real listening on {plane.address}", flush=True)
    while not stop.is_set():
        n = len(table)
        stats.write(
            {
                "t": time.monotonic(),
                "heartbeats": counters.heartbeats,
                "sessions": len(plane.hub.sessions),
                "ready": int(table.ready[:n].sum()),
                "interval_s": table.interval_s,
                "reconnect_window_s": liveness.reconnect_window_s(
                    n,
                    max_reconnect_rate_per_s=liveness.RECONNECT_RATE_PER_S,
                    min_s=liveness.RECONNECT_MIN_WINDOW_S,
                    max_s=liveness.RECONNECT_CAP_S,
                ),
                "deadline_s": table.deadline_s,
            },
            counters,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STATS_INTERVAL_S)
    await plane.stop(1)


def _option(text: str) -> tuple[str, int | str]:
    key, _, value = text.partition("=")
    return key, int(value) if value.lstrip("-").isdigit() else value


def _override(options: list[tuple[str, Any]], overrides: list[str]) -> None:
    """What-if runs: replaces gRPC server options in place (ours reads the same list)."""
    for key, value in map(_option, overrides):
        options[:] = [(k, v) for k, v in options if k != key] + [(key, value)]


async def _main(args: argparse.Namespace) -> None:
    _override(GRPC_SERVER_OPTIONS, args.server_option)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stats = StatsWriter(Path(args.stats))
    serve = _serve_bare if args.mode == "bare" else _serve_real
    await serve(args, stats, stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["bare", "real"])
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--stats", required=True, help="JSON stats file to keep current")
    parser.add_argument("--state-dir", default=".", help="real: store and bootstrap token")
    parser.add_argument("--heartbeat-interval", type=float, default=1.0)
    parser.add_argument("--max-heartbeat-rate", type=float, default=4000.0)
    parser.add_argument(
        "--server-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a gRPC server option (what-if runs)",
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()

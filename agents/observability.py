"""The agent's HTTP port for the kubelet and Prometheus: `/healthz` and `/metrics`.

`/healthz` answers from a thread, so it can tell a stalled event loop (a wedged agent
that still holds its TCP connections) from a live one: the loop ticks every half
second, and a tick older than `max_stall_s` is a 503 the liveness probe restarts on.
`/metrics` serves the process's Prometheus registry: the agent's OpenTelemetry
instruments (event-loop lag, nodes served) and the process collector's CPU, memory and
file descriptors.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TICK_S = 0.5
MAX_STALL_S = 10.0


class LoopWatch:
    """Ticks on the event loop; `stalled_s()` is how long since the last tick."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last_tick_s = clock()
        self.lag_s = 0.0

    async def run(self) -> None:
        while True:
            before = self._clock()
            await asyncio.sleep(TICK_S)
            self.last_tick_s = self._clock()
            self.lag_s = max(0.0, self.last_tick_s - before - TICK_S)

    def stalled_s(self) -> float:
        return self._clock() - self.last_tick_s


def health_status(stalled_s: float, max_stall_s: float = MAX_STALL_S) -> tuple[int, str]:
    """The HTTP status and body /healthz answers."""
    if stalled_s > max_stall_s:
        return 503, f"event loop stalled for {stalled_s:.1f}s\n"
    return 200, "ok\n"


def observe_agent(watch: LoopWatch, nodes: int, mode: str) -> None:
    """The agent's metrics on a Prometheus reader (HELP and units by the conventions)."""
    from opentelemetry import metrics
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider

    from agents import __version__
    from controlplane.tracing import resource

    metrics.set_meter_provider(
        MeterProvider(
            resource=resource("tokenplane-agent"), metric_readers=[PrometheusMetricReader()]
        )
    )
    meter = metrics.get_meter("tokenplane.agent")

    def lag(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(watch.lag_s)

    def served(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(nodes, {"mode": mode, "version": __version__})

    meter.create_observable_gauge(
        "tokenplane_agent_event_loop_lag",
        [lag],
        unit="s",
        description="How late the agent's event loop ran its last half-second tick",
    )
    meter.create_observable_gauge(
        "tokenplane_agent_nodes",
        [served],
        description="Nodes this agent process speaks for (1, or a hollow fleet's size)",
    )


def serve_http(listen: str, watch: LoopWatch) -> ThreadingHTTPServer:
    """Serves /healthz and /metrics on `listen` (HOST:PORT) from a daemon thread."""
    from prometheus_client import REGISTRY
    from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                status, text = health_status(watch.stalled_s())
                body, content_type = text.encode(), "text/plain; charset=utf-8"
            elif path == "/metrics":
                status, body, content_type = 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST
            else:
                status, body, content_type = (
                    404,
                    b"not found: try /healthz or /metrics\n",
                    "text/plain",
                )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds are not worth a log line each."""

    host, port = listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host.strip("[]") or "0.0.0.0", int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="agent-http", daemon=True).start()
    return server

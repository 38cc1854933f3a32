"""OpenTelemetry for the control plane: Prometheus /metrics, and OTLP as the `OTEL_*`
environment variables say.

Conventions (Prometheus and OpenTelemetry): base units in the names (seconds, watts,
grams, ratios 0-1), `_total` on counters, a description (HELP) on every instrument,
histogram buckets chosen per histogram. Fleet-wide figures are observable
instruments read from the inventory's columns at scrape time, so the heartbeat path
pays nothing for them. gRPC server spans come from opentelemetry-instrumentation-grpc;
the per-method, per-code `rpc_server_call_duration_seconds` histogram is derived from
those spans as they end (the collector's "spanmetrics" pattern), so traces and
metrics count the same calls.

Environment honoured: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; OTEL_TRACES_EXPORTER
and OTEL_METRICS_EXPORTER (otlp, console, none; default otlp when an
OTEL_EXPORTER_OTLP_*ENDPOINT is set, else none); the OTLP exporters' own variables
(endpoint, headers, certificate, insecure); OTEL_TRACES_SAMPLER.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from controlplane.inventory import InventoryTable
from controlplane.tracing import exporters, resource, tracer_provider

if TYPE_CHECKING:
    import grpc

W_PER_KW = 1000.0
S_PER_H = 3600.0

# Bucket bounds in seconds, per histogram: a placement takes 0.1-50 ms per replica, a
# reconcile pass milliseconds to seconds, a store call sub-millisecond (SQLite) to
# seconds (etcd under load), an RPC anything up to a stream's lifetime.
PLACEMENT_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
PASS_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
STORE_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                   0.5, 1, 2.5)  # fmt: skip
RPC_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                 30, 60, 300, 3600)  # fmt: skip


def _views() -> list[View]:
    """Buckets per histogram, and HELP for instruments declared elsewhere without one."""
    return [
        View(
            instrument_name="tokenplane_placement_duration",
            description="Time to place one replica (a pass's placement call over its replicas)",
            aggregation=ExplicitBucketHistogramAggregation(PLACEMENT_BUCKETS_S),
        ),
        View(
            instrument_name="tokenplane_replicas_placed",
            description="Replicas the scheduler bound to a node",
        ),
        View(
            instrument_name="tokenplane_reconcile_pass_duration",
            aggregation=ExplicitBucketHistogramAggregation(PASS_BUCKETS_S),
        ),
        View(
            instrument_name="tokenplane_reconcile_phase_duration",
            aggregation=ExplicitBucketHistogramAggregation(PASS_BUCKETS_S),
        ),
        View(
            instrument_name="tokenplane_store_request_duration",
            aggregation=ExplicitBucketHistogramAggregation(STORE_BUCKETS_S),
        ),
        View(
            instrument_name="rpc.server.call.duration",
            aggregation=ExplicitBucketHistogramAggregation(RPC_BUCKETS_S),
        ),
    ]


def setup_telemetry(
    metrics_listen: str | None, *, service_name: str = "tokenplane-server"
) -> TracerProvider:
    """Installs the global meter and tracer providers; serves /metrics on `metrics_listen`."""
    res = resource(service_name)
    readers: list[MetricReader] = []
    if metrics_listen:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        host, port = metrics_listen.rsplit(":", 1)
        start_http_server(int(port), addr=host or "0.0.0.0")
        readers.append(PrometheusMetricReader())
    for name in exporters("METRICS"):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        else:
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    provider = tracer_provider(service_name)
    metrics.set_meter_provider(MeterProvider(resource=res, metric_readers=readers, views=_views()))
    provider.add_span_processor(RpcMetrics())
    trace.set_tracer_provider(provider)
    return provider


# Streams the instrumentation cannot wrap (the servicer writes with context.write, where
# the interceptor expects an async generator), and whose span would last a node's life.
UNTRACED_METHODS = frozenset({"/tokenplane.v1.AgentService/Connect"})


def traced(details: grpc.HandlerCallDetails) -> bool:
    """The instrumentation's filter: a set lookup. Its own filter combinators ran a typing
    Protocol isinstance check per call, a tenth of a join storm's Join cost (py-spy)."""
    return details.method not in UNTRACED_METHODS


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """A server span per RPC, continuing the caller's trace (W3C traceparent metadata)."""
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor(filter_=traced)]


class RpcMetrics(SpanProcessor):
    """`rpc_server_call_duration_seconds{rpc_service, rpc_method, rpc_grpc_status_code}`
    from the gRPC instrumentation's server spans."""

    def __init__(self) -> None:
        self._duration = metrics.get_meter("tokenplane.rpc").create_histogram(
            "rpc.server.call.duration",
            unit="s",
            description="gRPC calls served, by service, method and status code",
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        attrs = span.attributes or {}
        if span.kind != SpanKind.SERVER or attrs.get("rpc.system") != "grpc":
            return
        if span.start_time is None or span.end_time is None:
            return
        code = attrs.get("rpc.grpc.status_code")
        if code is None:
            code = 2 if span.status.status_code == StatusCode.ERROR else 0
        self._duration.record(
            (span.end_time - span.start_time) / 1e9,
            {
                "rpc.service": str(attrs.get("rpc.service", "")),
                "rpc.method": str(attrs.get("rpc.method", "")),
                "rpc.grpc.status_code": _CODE_NAMES.get(int(str(code)), str(code)),
            },
        )


_CODE_NAMES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
    13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}  # fmt: skip


# --- the store -------------------------------------------------------------------------


class TimedStore:
    """A Store that times each call: `tokenplane_store_request_duration_seconds`."""

    def __init__(self, store: object) -> None:
        self._store = store
        self._duration = metrics.get_meter("tokenplane.store").create_histogram(
            "tokenplane_store_request_duration",
            unit="s",
            description="Store calls by operation and outcome (ok, error)",
        )

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._store, name)
        if name not in _TIMED or not callable(attribute):
            return attribute

        async def timed(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            outcome = "error"
            try:
                result = await attribute(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                self._duration.record(
                    time.perf_counter() - start, {"operation": name, "outcome": outcome}
                )

        return timed


_TIMED = frozenset(
    {"get", "list", "put", "delete", "grant_lease", "keepalive", "revoke_lease", "revision"}
)


# --- fleet, leadership and deployments, read at scrape time ----------------------------


@dataclass
class DeploymentFigures:
    """What the last look at the deployments' statuses found (refreshed by the leader)."""

    unschedulable: int = 0
    attainment: dict[str, float] | None = None


def deployment_figures(statuses: Iterable[tuple[str, object]]) -> DeploymentFigures:
    """Unschedulable count and SLO attainment per deployment, from (name, status) pairs."""
    figures = DeploymentFigures(attainment={})
    assert figures.attainment is not None
    for name, status in statuses:
        if status is None:
            continue
        conditions: Sequence[object] = getattr(status, "conditions", [])
        if any(
            getattr(c, "type", "") == "Unschedulable" and getattr(c, "status", "") == "True"
            for c in conditions
        ):
            figures.unschedulable += 1
        attainment = getattr(status, "attainment", None)
        if attainment is not None:
            figures.attainment[name] = float(attainment)
    return figures


def heartbeat_lag_s(now_s: float, last_s: np.ndarray, ready: np.ndarray) -> dict[str, float]:
    """Seconds since the last heartbeat over Ready nodes: median, p99, max."""
    ages = now_s - last_s[ready]
    if ages.size == 0:
        return {}
    p50, p99 = np.percentile(ages, [50, 99])
    return {"0.5": float(p50), "0.99": float(p99), "1": float(ages.max())}


def observe_fleet(
    table: InventoryTable,
    replicas_by_phase: Callable[[], dict[str, int]],
    *,
    is_leader: Callable[[], bool],
    deployments: Callable[[], DeploymentFigures],
    clock: Callable[[], float] = time.monotonic,
    meter: metrics.Meter | None = None,
) -> None:
    """Registers the fleet's gauges; each reads the live table when it is collected."""
    meter = meter or metrics.get_meter("tokenplane.inventory")

    def heartbeats(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(table.heartbeats)

    def nodes(_: CallbackOptions) -> Iterable[Observation]:
        n = len(table)
        ready = int(np.count_nonzero(table.ready[:n]))
        yield Observation(ready, {"condition": "Ready"})
        yield Observation(n - ready, {"condition": "NotReady"})

    def power(_: CallbackOptions) -> Iterable[Observation]:
        n = len(table)
        yield Observation(float(table.it_draw_kw[:n].sum()) * W_PER_KW, {"kind": "it_draw"})
        yield Observation(float(table.budget_kw[:n].sum()) * W_PER_KW, {"kind": "budget"})
        yield Observation(float(table.renewable_kw[:n].sum()) * W_PER_KW, {"kind": "renewable"})

    def emissions(_: CallbackOptions) -> Iterable[Observation]:
        n = len(table)
        grid_kw = np.maximum(table.it_draw_kw[:n] - table.renewable_kw[:n], 0)
        yield Observation(float((grid_kw * table.carbon_g_per_kwh[:n]).sum()) / S_PER_H)

    def renewable(_: CallbackOptions) -> Iterable[Observation]:
        n = len(table)
        draw = table.it_draw_kw[:n]
        total = float(draw.sum())
        covered = float(np.minimum(table.renewable_kw[:n], draw).sum())
        yield Observation(covered / total if total else 0.0)

    def over_budget(_: CallbackOptions) -> Iterable[Observation]:
        n = len(table)
        budget = table.budget_kw[:n]
        yield Observation(int(np.count_nonzero((budget > 0) & (table.it_draw_kw[:n] > budget))))

    def stale_feeds(_: CallbackOptions) -> Iterable[Observation]:
        stale = sum(1 for slot in range(len(table)) if ",stale:" in table.energy_source(slot))
        yield Observation(stale)

    def lag(_: CallbackOptions) -> Iterable[Observation]:
        n = len(table)
        for quantile, value in heartbeat_lag_s(
            clock(), table.last_heartbeat_s[:n], table.ready[:n]
        ).items():
            yield Observation(value, {"quantile": quantile})

    def phases(_: CallbackOptions) -> Iterable[Observation]:
        for phase, count in replicas_by_phase().items():
            yield Observation(count, {"phase": phase})

    def leader(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(1 if is_leader() else 0)

    def unschedulable(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(deployments().unschedulable)

    def attainment(_: CallbackOptions) -> Iterable[Observation]:
        for name, value in (deployments().attainment or {}).items():
            yield Observation(value, {"deployment": name})

    gauge = meter.create_observable_gauge
    meter.create_observable_counter(
        "tokenplane_heartbeats", [heartbeats], description="Heartbeats received from agents"
    )
    gauge("tokenplane_nodes", [nodes], description="Registered nodes by Ready condition")
    gauge(
        "tokenplane_fleet_power",
        [power],
        unit="W",
        description="Fleet power: IT draw, power budget, on-site renewable supply",
    )
    gauge(
        "tokenplane_fleet_carbon_emissions",
        [emissions],
        unit="g/s",
        description="Grid carbon emitted by the fleet's IT draw net of on-site renewables "
        "(modelled intensities)",
    )
    gauge(
        "tokenplane_fleet_renewable_ratio",
        [renewable],
        description="Share of the fleet's IT draw covered by on-site renewables (0-1)",
    )
    gauge(
        "tokenplane_nodes_over_power_budget",
        [over_budget],
        description="Nodes drawing more IT power than their budget",
    )
    gauge(
        "tokenplane_nodes_energy_feed_stale",
        [stale_feeds],
        description="Nodes whose energy feed stopped updating (figures kept, marked stale)",
    )
    gauge(
        "tokenplane_heartbeat_lag",
        [lag],
        unit="s",
        description="Time since the last heartbeat over Ready nodes, by quantile (1 = max)",
    )
    gauge("tokenplane_replicas", [phases], description="Replicas by phase")
    gauge(
        "tokenplane_leader",
        [leader],
        description="1 if this replica leads (runs the loops and serves the APIs), else 0",
    )
    gauge(
        "tokenplane_deployments_unschedulable",
        [unschedulable],
        description="Deployments with replicas that fit on no node (Unschedulable=True)",
    )
    gauge(
        "tokenplane_deployment_slo_attainment_ratio",
        [attainment],
        description="Share of a deployment's demand served within its latency SLO (0-1)",
    )

"""OpenTelemetry for the control plane: metrics on a Prometheus endpoint, traces and
metrics over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Fleet-wide figures (nodes by condition, power, carbon, heartbeats) are
observable instruments read from the inventory's columns at scrape time, so
the heartbeat path pays nothing for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from controlplane import __version__
from controlplane.inventory import InventoryTable


def setup_telemetry(metrics_listen: str | None) -> None:
    """Installs the global meter and tracer providers; serves /metrics on `metrics_listen`."""
    resource = Resource.create(
        {"service.name": "tokenplane-server", "service.version": __version__}
    )
    readers: list[MetricReader] = []
    if metrics_listen:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        host, port = metrics_listen.rsplit(":", 1)
        start_http_server(int(port), addr=host or "0.0.0.0")
        readers.append(PrometheusMetricReader())
    tracer_provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    trace.set_tracer_provider(tracer_provider)


def observe_fleet(table: InventoryTable, replicas_by_phase: Callable[[], dict[str, int]]) -> None:
    """Registers the fleet's gauges; each reads the live table when it is collected."""
    meter = metrics.get_meter("tokenplane.inventory")

    def heartbeats(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(table.heartbeats)

    def nodes(_: CallbackOptions) -> Iterable[Observation]:
        n = len(table)
        ready = int(np.count_nonzero(table.ready[:n]))
        yield Observation(ready, {"condition": "Ready"})
        yield Observation(n - ready, {"condition": "NotReady"})

    def power(_: CallbackOptions) -> Iterable[Observation]:
        n = len(table)
        yield Observation(float(table.it_draw_kw[:n].sum()), {"kind": "it_draw"})
        yield Observation(float(table.budget_kw[:n].sum()), {"kind": "budget"})
        yield Observation(float(table.renewable_kw[:n].sum()), {"kind": "renewable"})

    def carbon(_: CallbackOptions) -> Iterable[Observation]:
        n = len(table)
        draw = table.it_draw_kw[:n]
        grid_kw = np.maximum(draw - table.renewable_kw[:n], 0)
        total = float(draw.sum())
        grams_per_h = float((grid_kw * table.carbon_g_per_kwh[:n]).sum())
        yield Observation(grams_per_h / total if total else 0.0)

    def phases(_: CallbackOptions) -> Iterable[Observation]:
        for phase, count in replicas_by_phase().items():
            yield Observation(count, {"phase": phase})

    meter.create_observable_counter(
        "tokenplane_heartbeats", [heartbeats], description="Heartbeats received"
    )
    meter.create_observable_gauge("tokenplane_nodes", [nodes], description="Nodes by condition")
    meter.create_observable_gauge(
        "tokenplane_fleet_power_kw", [power], description="Fleet power: draw, budget, renewable"
    )
    meter.create_observable_gauge(
        "tokenplane_fleet_carbon_g_per_kwh",
        [carbon],
        unit="g/kWh",
        description="Carbon intensity of the fleet's IT power, net of on-site renewables",
    )
    meter.create_observable_gauge("tokenplane_replicas", [phases], description="Replicas by phase")

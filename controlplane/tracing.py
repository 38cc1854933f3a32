"""Tracing shared by the server, the agent and tpctl, configured by the `OTEL_*` variables.

A trace starts where a person or an agent acts: tpctl's and the agents' gRPC calls carry
W3C `traceparent` metadata (opentelemetry-instrumentation-grpc's client interceptors),
the server continues it in a span per RPC, and the reconciler's passes are spans whose
children are the placement calls. OpenTelemetry is imported only when tracing is
configured, so tpctl starts as fast without it.

Variables: OTEL_TRACES_EXPORTER (otlp, console, none; default otlp when an OTLP endpoint
is set, else none), OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT and the exporter's other
variables, OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

EXPORTERS = frozenset({"otlp", "console", "none", "prometheus"})


def exporters(signal: str) -> list[str]:
    """The exporters OTEL_<SIGNAL>_EXPORTER names; otlp by default when an endpoint is set."""
    configured = os.environ.get(f"OTEL_{signal}_EXPORTER")
    if configured is None:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    names = [n.strip() for n in configured.split(",") if n.strip()]
    unknown = set(names) - EXPORTERS
    if unknown:
        raise ValueError(f"OTEL_{signal}_EXPORTER: unsupported {sorted(unknown)}")
    return [n for n in names if n not in ("none", "prometheus")]


def resource(default_service_name: str) -> Resource:
    """Service name from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, else the default."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    from controlplane import __version__

    detected = Resource.create({"service.version": __version__})
    if os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        return detected
    return detected.merge(Resource({SERVICE_NAME: default_service_name}))


def tracer_provider(default_service_name: str) -> TracerProvider:
    """A provider exporting where the environment says (nowhere if it says nothing)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=resource(default_service_name))
    for name in exporters("TRACES"):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider


def setup_tracing(default_service_name: str) -> bool:
    """For tpctl and agents: installs the tracer provider when OTEL_* asks for traces
    (spans are flushed at exit); False, and nothing imported, when tracing is off."""
    if not exporters("TRACES"):
        return False
    from opentelemetry import trace

    provider = tracer_provider(default_service_name)
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # a short-lived tpctl must not lose its spans
    return True


def trace_aio_clients(default_service_name: str) -> None:
    """Every grpc.aio call this process makes (the agent's Join) is a client span."""
    if setup_tracing(default_service_name):
        from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, filters

        # Join is a call worth a span; the node's Connect stream lives as long as the node.
        untraced = filters.method_name("Connect")
        GrpcAioInstrumentorClient(filter_=filters.negate(untraced)).instrument()


def traced_channel(channel: grpc.Channel) -> grpc.Channel:
    """tpctl's channel, with a client span per call when OTEL_* asks for traces."""
    if not setup_tracing("tpctl"):
        return channel
    from opentelemetry.instrumentation.grpc import client_interceptor, grpcext

    traced: grpc.Channel = grpcext.intercept_channel(channel, client_interceptor())
    return traced


# --- the reconcile pass ----------------------------------------------------------------


@cache
def _pass_instruments() -> tuple[Any, Any]:
    from opentelemetry import metrics, trace

    histogram = metrics.get_meter("tokenplane.reconciler").create_histogram(
        "tokenplane_reconcile_pass_duration",
        unit="s",
        description="Reconcile passes by outcome (success: no phase failed; error)",
    )
    return trace.get_tracer("tokenplane.reconciler"), histogram


@contextlib.contextmanager
def reconcile_pass(failures: Callable[[], int]) -> Iterator[None]:
    """A `reconcile.pass` span (placement's span is its child), timed by outcome: an
    error if it raised or if `failures()` (phases failed so far) grew during it."""
    tracer, histogram = _pass_instruments()
    start, before = time.perf_counter(), failures()
    outcome = "error"
    with tracer.start_as_current_span("reconcile.pass") as span:
        try:
            yield
            outcome = "success" if failures() == before else "error"
        finally:
            span.set_attribute("tokenplane.outcome", outcome)
            histogram.record(time.perf_counter() - start, {"outcome": outcome})

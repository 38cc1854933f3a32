"""Tracing shared by the server, the agent and tpctl, configured by the `OTEL_*` variables.

A trace starts where a person or an agent acts: tpctl's gRPC calls carry W3C
`traceparent` metadata (opentelemetry-instrumentation-grpc's client interceptors), the
server continues it in a span per RPC, and the reconciler's passes are spans whose
children are the placement calls. An agent's Join rides on its Connect stream, which
the instrumentation does not trace (a span would last the node's life): the agent and
the server make its client and server spans here, named as the Join call's would be.
OpenTelemetry is imported only when tracing is configured, so tpctl starts as fast
without it.

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


_client_tracing = False  # setup_tracing installed a provider in this process


def setup_tracing(default_service_name: str) -> bool:
    """For tpctl and agents: installs the tracer provider when OTEL_* asks for traces
    (spans are flushed at exit); False, and nothing imported, when tracing is off."""
    global _client_tracing
    if not exporters("TRACES"):
        return False
    from opentelemetry import trace

    provider = tracer_provider(default_service_name)
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # a short-lived tpctl must not lose its spans
    _client_tracing = True
    return True


@cache
def _tracer(name: str) -> Any:
    """One tracer per name: `get_tracer` builds a new one each call (a fifth of a Join's
    span, py-spy). A tracer got before the provider is set delegates to it once set."""
    from opentelemetry import trace

    return trace.get_tracer(name)


def _rpc_attributes(method: str) -> dict[str, str]:
    service, _, name = method.strip("/").rpartition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


@contextlib.contextmanager
def client_span(method: str) -> Iterator[tuple[tuple[str, str], ...]]:
    """A client span for a call carried by a stream (an agent's Join in its Hello); yields
    the metadata that carries it to the server. Nothing while tracing is off."""
    if not _client_tracing:
        yield ()
        return
    from opentelemetry import propagate, trace

    attributes = _rpc_attributes(method)
    with _tracer("tokenplane.agent").start_as_current_span(
        method, kind=trace.SpanKind.CLIENT, attributes=attributes
    ):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield tuple(carrier.items())


@contextlib.contextmanager
def server_span(method: str, context: grpc.aio.ServicerContext) -> Iterator[None]:
    """The server span of a call carried by a stream, continuing the caller's trace, with
    the attributes the gRPC instrumentation sets (the server's RPC metrics count it)."""
    import grpc
    from opentelemetry import propagate, trace

    carrier = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    with _tracer("tokenplane.api").start_as_current_span(
        method,
        context=propagate.extract(carrier),
        kind=trace.SpanKind.SERVER,
        attributes=_rpc_attributes(method),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        code = grpc.StatusCode.OK
        try:
            yield
        except grpc.aio.AbortError:
            aborted = context.code()
            code = aborted if isinstance(aborted, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
            raise
        except BaseException:
            code = grpc.StatusCode.UNKNOWN
            raise
        finally:
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code is not grpc.StatusCode.OK:
                span.set_status(trace.StatusCode.ERROR)


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

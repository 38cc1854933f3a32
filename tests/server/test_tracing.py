"""One trace from tpctl through the server: an in-process OTLP receiver (a real gRPC
TraceService on loopback) collects what a real tpctl, server and hollow agents export,
configured only by the standard OTEL_* environment variables."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.support.processes import BIN, Process, write_fleet

DEPLOYMENT = """apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {name: chat-traced}
spec:
  model: {name: llama-3.1-8b-instruct, runtime: vllm}
  replicas: 1
  resources: {gpus: 1, gpuModel: L4, powerKw: 0.5}
  demand: [{name: paris, lat: 48.86, lon: 2.35, weight: 1}]
  latencySloMs: 200
"""


@dataclass(frozen=True)
class SpanSeen:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span exported to it."""

    def __init__(self) -> None:
        self.spans: list[SpanSeen] = []
        self._lock = threading.Lock()

    def Export(self, request, context):
        with self._lock:
            for rs in request.resource_spans:
                service = next(
                    a.value.string_value for a in rs.resource.attributes if a.key == "service.name"
                )
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append(
                            SpanSeen(
                                service,
                                s.name,
                                s.kind,
                                s.trace_id.hex(),
                                s.span_id.hex(),
                                s.parent_span_id.hex(),
                            )
                        )
        return trace_service_pb2.ExportTraceServiceResponse()

    def named(self, name: str, service: str | None = None) -> list[SpanSeen]:
        with self._lock:
            return [s for s in self.spans if s.name == name and service in (None, s.service)]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    collected = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collected, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield collected, f"http://127.0.0.1:{port}"
    server.stop(0)


def otel_env(endpoint: str, service: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": service,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def wait_for(check, what: str, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not seen in {timeout_s}s")


def test_an_apply_is_one_trace_from_tpctl_through_the_server(
    receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    collected, endpoint = receiver
    state = tmp_path / "state"
    server = Process(
        [str(BIN / "tokenplane-server"), "--listen", "127.0.0.1:0", "--state-dir", str(state),
         "--scheduler", "inline"],
        log_path=tmp_path / "server.log",
        env=otel_env(endpoint, "cp-under-test"),
    )  # fmt: skip
    address = server.wait_for_output(r"listening on (\S+)")[1]
    fleet = Process(
        [str(BIN / "tokenplane-agent"), "--hollow", "--fleet",
         str(write_fleet(tmp_path / "fleet.yaml", 3)), "--server", address,
         "--token-file", str(state / "bootstrap-token")],
        log_path=tmp_path / "agents.log",
        env=otel_env(endpoint, "agents"),
    )  # fmt: skip
    try:
        join = "/tokenplane.v1.AgentService/Join"
        wait_for(lambda: len(collected.named(join, "cp-under-test")) >= 3, "joins")
        manifest = tmp_path / "chat.yaml"
        manifest.write_text(DEPLOYMENT)
        env = {"HOME": str(tmp_path), "PATH": str(BIN), **otel_env(endpoint, "tpctl")}
        env |= {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}
        applied = subprocess.run(
            [str(BIN / "tpctl"), "--server", address, "apply", "-f", str(manifest)],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        method = "/tokenplane.v1.FleetService/Apply"
        (served,) = wait_for(lambda: collected.named(method, "cp-under-test"), "server span")
        (called,) = wait_for(lambda: collected.named(method, "tpctl"), "tpctl's span")
        placed = wait_for(lambda: collected.named("scheduler.place", "cp-under-test"), "place")
    finally:
        fleet.stop()
        server.stop()

    # tpctl's client span is the server span's parent: one trace across the processes.
    assert served.trace_id == called.trace_id and served.parent_id == called.span_id
    assert served.kind == 2 and called.kind == 3  # SERVER, CLIENT
    # Placement runs inside a reconcile pass, as its child span.
    passes = {s.span_id: s for s in collected.named("reconcile.pass", "cp-under-test")}
    assert any(p.parent_id in passes for p in placed)
    # Each agent's Join continues in the server: the agents' traces reach it too.
    joins = {s.span_id for s in collected.named("/tokenplane.v1.AgentService/Join", "agents")}
    served_joins = collected.named("/tokenplane.v1.AgentService/Join", "cp-under-test")
    assert len(joins) == 3 and {s.parent_id for s in served_joins} == joins
    assert "Traceback" not in server.output() + fleet.output()

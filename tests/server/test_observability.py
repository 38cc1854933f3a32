"""What operators and probes see: /metrics, gRPC health, server reflection."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import HollowFleet, ServerProcess, write_fleet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> dict[str, float]:
    """Samples by name and their one tokenplane label, e.g. 'tokenplane_nodes{Ready}'."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    figures = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = next((v for k, v in sample.labels.items() if not k.startswith("otel")), "")
            figures[f"{sample.name}{{{label}}}" if label else sample.name] = sample.value
    return figures


def test_metrics_health_and_reflection(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "state", "--metrics-listen", f"127.0.0.1:{port}")
    fleet = HollowFleet(write_fleet(tmp_path / "fleet.yaml", 5), server.address, server.token_file)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 20
        figures: dict[str, float] = {}
        while time.monotonic() < deadline:
            figures = scrape(url)
            if figures.get("tokenplane_nodes{Ready}") == 5:
                break
            time.sleep(0.3)
        assert figures["tokenplane_nodes{Ready}"] == 5
        assert figures["tokenplane_heartbeats_total"] >= 5
        assert figures["tokenplane_fleet_power_kw{budget}"] == 100  # 5 x 20 kW

        with grpc.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "tokenplane.v1.FleetService", "tokenplane.v1.AgentService"):
                reply = health.Check(health_pb2.HealthCheckRequest(service=service))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
            replies = reflect.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            names = {s.name for r in replies for s in r.list_services_response.service}
            assert {
                "tokenplane.v1.FleetService",
                "tokenplane.v1.AgentService",
                "grpc.health.v1.Health",
            } <= names
    finally:
        fleet.stop()
        server.stop()

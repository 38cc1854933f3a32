"""What operators and probes see: /metrics by the conventions, JSON logs, gRPC health,
server reflection. A real server, real hollow agents and a real tpctl, on loopback."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agents.observability import LoopWatch, health_status
from controlplane import logs
from tests.support.processes import BIN, HollowFleet, ServerProcess, write_fleet

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DEPLOYMENT = """apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {name: chat-obs}
spec:
  model: {name: llama-3.1-8b-instruct, runtime: vllm}
  replicas: 2
  resources: {gpus: 1, gpuModel: L4, powerKw: 0.5}
  demand: [{name: paris, lat: 48.86, lon: 2.35, weight: 1}]
  latencySloMs: 200
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def families(url: str) -> dict[str, object]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(fams: dict, name: str) -> list[Sample]:
    return [s for f in fams.values() for s in f.samples if s.name == name]


def value(fams: dict, name: str, **labels: str) -> float | None:
    for s in samples(fams, name):
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def wait_until(check, what: str, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.3)
    raise AssertionError(f"{what}: not seen in {timeout_s}s")


def tpctl(
    server: str, *args: str, home: Path, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "tpctl"), "--server", server, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "HOME": str(home),
            "PATH": str(BIN),
            **({"TOKENPLANE_TOKEN": token} if token else {}),
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        },
    )


def test_metrics_follow_the_conventions(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "state", "--metrics-listen", f"127.0.0.1:{port}")
    fleet = HollowFleet(write_fleet(tmp_path / "fleet.yaml", 5), server.address, server.token_file)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_until(
            lambda: value(families(url), "tokenplane_nodes", condition="Ready") == 5, "5 Ready"
        )
        manifest = tmp_path / "chat.yaml"
        manifest.write_text(DEPLOYMENT)
        applied = tpctl(server.address, "apply", "-f", str(manifest), home=tmp_path)
        assert applied.returncode == 0, applied.stderr
        fams = wait_until(
            lambda: (
                (f := families(url))
                and (value(f, "tokenplane_replicas_placed_total") or 0) >= 2
                and f
            ),
            "2 replicas placed",
        )
    finally:
        fleet.stop()
        server.stop()

    ours = {n: f for n, f in fams.items() if n.startswith(("tokenplane_", "rpc_"))}
    for name, family in ours.items():
        assert family.documentation.strip(), f"{name} has no HELP"
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), name
        assert not re.search(r"_(kw|kwh|ms|g_per_kwh|kilo\w*)(_|$)", name), (
            f"{name}: not base units"
        )

    assert value(fams, "tokenplane_heartbeats_total") >= 5
    assert value(fams, "tokenplane_fleet_power_watts", kind="budget") == 100_000  # 5 x 20 kW
    assert value(fams, "tokenplane_fleet_carbon_emissions_grams_per_second") is not None
    assert 0 <= value(fams, "tokenplane_fleet_renewable_ratio") <= 1
    assert value(fams, "tokenplane_leader") == 1
    assert value(fams, "tokenplane_heartbeat_lag_seconds", quantile="1") < 10
    assert value(fams, "tokenplane_deployments_unschedulable") == 0
    assert value(fams, "tokenplane_nodes_energy_feed_stale") == 0
    assert value(fams, "tokenplane_nodes_over_power_budget") == 0

    # Placement is timed in its own range: bounds up to 0.1 s, not OTel's 0..10000.
    buckets = samples(fams, "tokenplane_placement_duration_seconds_bucket")
    bounds = sorted(float(b.labels["le"]) for b in buckets if b.labels["le"] != "+Inf")
    assert bounds[0] <= 0.0001 and bounds[-1] <= 0.1, bounds

    # gRPC per method and code, from the instrumentation's server spans.
    assert (
        value(
            fams,
            "rpc_server_call_duration_seconds_count",
            rpc_method="Apply",
            rpc_grpc_status_code="OK",
        )
        == 1
    )
    assert value(fams, "rpc_server_call_duration_seconds_count", rpc_method="Join") == 5
    assert value(fams, "tokenplane_store_request_duration_seconds_count", operation="put") > 0


def test_health_and_reflection(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "state")
    try:
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
        server.stop()


def test_json_logs_show_nodes_going_not_ready_and_never_a_secret(tmp_path: Path) -> None:
    token = "s3cret-bootstrap-token-for-logs"
    api_token = "s3cret-admin-api-token-for-logs"
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "tokens.yaml").write_text(
        json.dumps([{"name": "ops", "token": api_token, "role": "admin"}])
    )
    server = ServerProcess(
        tmp_path / "state",
        "--log-format=json",
        "--log-level=debug",
        "--bootstrap-token-file",
        str(tmp_path / "token"),
        "--api-tokens-file",
        str(tmp_path / "tokens.yaml"),
    )
    fleet = HollowFleet(write_fleet(tmp_path / "fleet.yaml", 3), server.address, tmp_path / "token")
    try:
        server.wait_for_output(r'"event": "NodeReady".*"object": "node-2"|node-2.*NodeReady')
        manifest = tmp_path / "chat.yaml"
        manifest.write_text(DEPLOYMENT)
        applied = tpctl(
            server.address, "apply", "-f", str(manifest), home=tmp_path, token=api_token
        )
        assert applied.returncode == 0, applied.stderr
        server.wait_for_output(r'"event": "Scheduled"')
        fleet.stop()  # the agents go away: their nodes go NotReady
        server.wait_for_output(r'"event": "NodeNotReady"')
        with grpc.insecure_channel(server.address) as channel:  # a caller with a bad token
            stub = health_pb2_grpc.HealthStub(channel)
            stub.Check(
                health_pb2.HealthCheckRequest(),
                metadata=[("authorization", f"Bearer {api_token}x")],
            )
    finally:
        fleet.stop()
        server.stop()
    lines = [json.loads(line) for line in server.output().splitlines() if line.strip()]
    assert lines, "no log lines"
    for line in lines:
        assert RFC3339_UTC.match(line["ts"]), line
        assert {"level", "logger", "msg"} <= line.keys()
    not_ready = [line for line in lines if line.get("event") == "NodeNotReady"]
    assert {line["object"] for line in not_ready} == {"node-0", "node-1", "node-2"}
    assert all(line["level"] == "warning" and line["kind"] == "Node" for line in not_ready)
    assert any(line["msg"].startswith("listening on") for line in lines)
    # A placement is logged inside its reconcile pass's span: the line leads to the trace.
    scheduled = [line for line in lines if line.get("event") == "Scheduled"]
    assert scheduled and all(re.fullmatch(r"[0-9a-f]{32}", s["trace_id"]) for s in scheduled)
    assert all(s["kind"] == "ModelDeployment" and s["object"] == "chat-obs" for s in scheduled)
    assert token not in server.output() and api_token not in server.output()


def test_log_lines_carry_trace_ids_and_scrub_secrets() -> None:
    stream = io.StringIO()
    logs.setup_logging("info", "json", stream=stream)
    secret = "node-key-0123456789abcdef"
    logs.redact(secret)
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"
    log = logging.getLogger("tests.observability")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("apply") as span:
        log.info("joined with %s", secret, extra={"node": "edge-1"})
    log.warning("header Authorization: Bearer abc.def-ghi and key %s", pem)
    try:
        raise ValueError(f"bad key {secret}")
    except ValueError:
        log.exception("failed")
    logging.getLogger().handlers.clear()
    out = stream.getvalue()
    first, second, third = (json.loads(line) for line in out.splitlines())
    assert first["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert first["node"] == "edge-1" and first["msg"] == "joined with [REDACTED]"
    assert "abc.def-ghi" not in out and "MIIEvQ" not in out and secret not in out
    assert "Bearer [REDACTED]" in second["msg"]
    assert "trace_id" not in second and "exc_info" in third


def test_the_agent_serves_healthz_and_metrics(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "state")
    port = free_port()
    fleet = HollowFleet(
        write_fleet(tmp_path / "fleet.yaml", 4),
        server.address,
        server.token_file,
        "--metrics-listen",
        f"127.0.0.1:{port}",
        "--log-format=json",
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return urllib.request.urlopen(base + "/healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_until(healthy, "agent /healthz 200")
        fams = families(base + "/metrics")
    finally:
        fleet.stop()
        server.stop()
    assert value(fams, "tokenplane_agent_nodes", mode="hollow") == 4
    assert fams["tokenplane_agent_nodes"].documentation
    assert value(fams, "tokenplane_agent_event_loop_lag_seconds") is not None
    assert value(fams, "process_resident_memory_bytes") > 0
    banner = json.loads(fleet.output().splitlines()[0])
    assert banner["nodes"] == 4 and RFC3339_UTC.match(banner["ts"])


def test_a_stalled_event_loop_fails_the_agents_liveness() -> None:
    now = [100.0]
    watch = LoopWatch(clock=lambda: now[0])
    assert health_status(watch.stalled_s()) == (200, "ok\n")
    now[0] += 30  # no tick for 30 s: the loop is wedged
    status, body = health_status(watch.stalled_s())
    assert status == 503 and "stalled for 30.0s" in body

"""What the chart gives an SRE: agent probes on the agent's health port, alerts whose
queries parse and name metrics the real server exports, and a parameter table that
matches values.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import promql_parser
from prometheus_client.parser import text_string_to_metric_families

from tests.helm.rendered import containers
from tests.support.etcd import free_port
from tests.support.processes import ServerProcess

# Exported only once there is something to report (an observable gauge with no data).
EXPORTED_WITH_DATA = {"tokenplane_deployment_slo_attainment_ratio"}
METRIC = re.compile(r"\b((?:tokenplane|rpc)_\w+)\s*\{")


def test_the_parameter_table_is_current(repo_root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "chart-readme"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_agents_are_probed_on_their_health_port(render, ci_dir: Path) -> None:
    manifests = render(ci_dir / "values-ha-bundled-etcd.yaml")
    daemonset = manifests.one("DaemonSet", "agent")
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    (agent,) = [c for c in containers(manifests) if c.command == "tokenplane-agent"]
    listen = next(a.split("=", 1)[1] for a in agent.args if a.startswith("--metrics-listen="))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert listen == f"0.0.0.0:{ports['metrics']}"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert "--log-format=json" in agent.args
    assert manifests.one("PodMonitor", "agent")["spec"]["podMetricsEndpoints"][0]["port"] == (
        "metrics"
    )


def scraped_names(tmp_path: Path) -> set[str]:
    """Sample names a real server exports, once a reconcile pass has run."""
    port = free_port()
    server = ServerProcess(tmp_path / "state", "--metrics-listen", f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        names: set[str] = set()
        while time.monotonic() < deadline:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            names = {
                s.name for f in text_string_to_metric_families(text.decode()) for s in f.samples
            }
            if "tokenplane_reconcile_pass_duration_seconds_count" in names:
                return names
            time.sleep(0.3)
        raise AssertionError(f"no reconcile pass in the metrics: {sorted(names)}")
    finally:
        server.stop()


def test_alerts_parse_and_use_exported_metrics(render, ci_dir: Path, tmp_path: Path) -> None:
    rule = render(ci_dir / "values-ha-bundled-etcd.yaml").one("PrometheusRule")
    rules = rule["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in rules}
    assert {
        "TokenplaneNoLeader",
        "TokenplaneNodesNotReady",
        "TokenplaneDeploymentsUnschedulable",
        "TokenplaneSiteOverPowerBudget",
        "TokenplaneEnergyFeedStale",
    } <= alerts.keys()
    exported = scraped_names(tmp_path) | EXPORTED_WITH_DATA
    for name, r in alerts.items():
        promql_parser.parse(r["expr"])  # raises on a query Prometheus would reject
        used = set(METRIC.findall(r["expr"]))
        assert used, f"{name} uses no metric"
        assert used <= exported, (
            f"{name} uses metrics the server does not export: {used - exported}"
        )
        assert r["labels"]["severity"] in {"warning", "critical"}
        assert r["annotations"]["summary"] and r["annotations"]["description"]
    assert 'job="tp-tokenplane-metrics"' in alerts["TokenplaneNoLeader"]["expr"]

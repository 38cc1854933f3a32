"""`tpctl describe`, `top` and `events`: where the power is, how clean, and why."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Tpctl, deployment_manifest, parse_table, wait_until

DEPLOYMENT = "ob-llama"


@pytest.fixture(scope="module")
def placed(tpctl: Tpctl) -> Iterator[str]:
    """A deployment whose two replicas are running, with a declared throughput."""
    manifest = deployment_manifest(
        DEPLOYMENT, replicas=2, annotations='{"tokenplane.io/tokens-per-second": "2500"}'
    )
    tpctl.ok("apply", "-f", "-", input=manifest)
    wait_until(
        lambda: tpctl.json("get", "deploy", DEPLOYMENT).get("status", {}).get("readyReplicas") == 2,
        what=f"{DEPLOYMENT} to be ready",
    )
    yield DEPLOYMENT
    tpctl.ok("delete", "deploy", DEPLOYMENT)


def test_describe_node(tpctl: Tpctl) -> None:
    out = tpctl.ok("describe", "node", "node-1")
    for expected in (
        "Name:               node-1",
        "Kind:               Node",
        "Labels:             site=node-1",
        "Status:             Ready",
        "Spec:",
        "  tier: edge",
        "Conditions:",
        "Energy (now, from ",
        "IT draw:",
        "kW of 20 kW budget",
        "Renewable:",
        "Grid carbon:",
        "110 gCO2/kWh",
        "Carbon basis:     average, lifecycle, measured; zone DE-LU",
        "GPUs:",
        "Replicas:",
        "Events:",
        "NodeReady",
    ):
        assert expected in out, expected
    conditions = out.split("Conditions:\n")[1].split("\n")[:2]
    assert conditions[0].split()[:3] == ["TYPE", "STATUS", "REASON"]
    assert conditions[1].split()[:2] == ["Ready", "True"]


def serving_kinds(tpctl: Tpctl, deployment: str) -> set[str]:
    """The carbon kinds (e.g. average/lifecycle) of the nodes the deployment's replicas run on."""
    nodes = {n["metadata"]["name"]: n for n in tpctl.json("get", "nodes")["items"]}
    kinds = set()
    for r in tpctl.json("get", "replicas")["items"]:
        if r["spec"]["deployment"] == deployment:
            basis = nodes[r["spec"]["nodeName"]]["status"]["energy"]["carbonBasis"]
            kinds.add(f"{basis['signal']}/{basis['scope']}")
    return kinds


def test_describe_deployment_explains_each_placement(tpctl: Tpctl, placed: str) -> None:
    out = tpctl.ok("describe", "deployment", placed)
    assert f"Name:               {placed}" in out
    assert "Ready:              2/2" in out
    assert "RTT p95:" in out
    kinds = serving_kinds(tpctl, placed)
    if len(kinds) == 1:
        assert f"gCO2 per million tokens ({kinds.pop()}; power declared)" in out
    else:
        assert "Carbon:             not summed: its nodes' carbon figures are of kinds" in out
    spec = yaml.safe_load(out.split("Spec:\n")[1].split("Conditions:")[0])
    assert spec["replicas"] == 2 and spec["latencySloMs"] == 80
    replicas = out.split("Replicas:\n")[1].split("Events:")[0]
    placements = [line for line in replicas.splitlines() if line.strip().startswith("RTT ")]
    assert len(placements) == 2
    assert all("carbon" in p and "renewable" in p and "score" in p for p in placements)
    assert out.count(" on node-") >= 2 and ": Running" in replicas
    events = out.split("Events:\n")[1]
    assert "Scheduled" in events


def test_describe_replica_and_by_selector(tpctl: Tpctl, placed: str) -> None:
    replica = next(
        r for r in tpctl.json("get", "replicas")["items"] if r["spec"]["deployment"] == placed
    )
    out = tpctl.ok("describe", f"replica/{replica['metadata']['name']}")
    assert "Kind:               Replica" in out and "Placement:" in out
    assert f"deployment: {placed}" in out
    assert tpctl.ok("describe", "nodes", "-l", "site=node-2").count("Name:  ") == 1
    missing = tpctl("describe", "deployment", "no-such-thing")
    assert missing.returncode == 1
    assert 'ModelDeployment "no-such-thing" not found' in missing.stderr


def test_describe_node_lists_its_replicas(tpctl: Tpctl, placed: str) -> None:
    """A running replica is listed on its node. Re-read until it holds: the re-plan may be
    moving one (make-before-break) between `get replicas` and `describe node`."""

    def listed() -> bool:
        running = [
            r
            for r in tpctl.json("get", "replicas")["items"]
            if r["spec"]["deployment"] == placed and r["status"].get("phase") == "Running"
        ]
        if not running:
            return False
        name, node = running[0]["metadata"]["name"], running[0]["spec"]["nodeName"]
        return f"{name} on {node}: Running" in tpctl.ok("describe", "node", node)

    wait_until(listed, what="describe node to list its running replica")


def test_top_nodes(tpctl: Tpctl) -> None:
    rows = parse_table(tpctl.ok("top", "nodes"))
    assert list(rows[0]) == [
        "NAME",
        "POWER(kW)",
        "POWER%",
        "GPUS(used/total)",
        "GPU%",
        "RENEWABLE(kW)",
        "RENEWABLE%",
        "CARBON(g/kWh)",
        "CARBON-BASIS",
        "CO2(kg/h)",
        "COST(/h)",
    ]
    by_name = {r["NAME"]: r for r in rows}
    assert by_name["node-1"]["CARBON-BASIS"] == "average/lifecycle/measured"
    assert by_name["node-2"]["CARBON-BASIS"] == "marginal/direct/forecast"
    node = by_name["node-1"]
    assert node["CARBON(g/kWh)"] == "110" and node["RENEWABLE(kW)"] == "1.0"
    draw = float(node["POWER(kW)"])
    assert node["POWER%"] == f"{draw / 20 * 100:.0f}%"
    assert float(node["CO2(kg/h)"]) == pytest.approx(max(0.0, draw - 1.0) * 0.110, abs=0.01)
    by_carbon = parse_table(tpctl.ok("top", "nodes", "--sort-by", "carbon"))
    carbons = [float(r["CARBON(g/kWh)"]) for r in by_carbon]
    assert carbons == sorted(carbons, reverse=True)
    by_name_sorted = [r["NAME"] for r in parse_table(tpctl.ok("top", "no", "--sort-by", "name"))]
    assert by_name_sorted == sorted(by_name_sorted)
    assert [r["NAME"] for r in parse_table(tpctl.ok("top", "nodes", "-l", "site=node-3"))] == [
        "node-3"
    ]


def test_top_deployments(tpctl: Tpctl, placed: str) -> None:
    rows = {r["NAME"]: r for r in parse_table(tpctl.ok("top", "deployments", "--sort-by", "power"))}
    row = rows[placed]
    assert row["READY"] == "2/2" and row["GPUS"] == "2"
    assert float(row["POWER(kW)"]) == pytest.approx(1.6)
    assert float(row["RTT-P95(ms)"]) > 0
    # the fleet's nodes carry averages and margins (every third): never added together
    kinds = serving_kinds(tpctl, placed)
    if len(kinds) == 1:
        assert row["CARBON-BASIS"] == kinds.pop() and float(row["CARBON(g/Mtok)"]) >= 0
    else:
        assert row["CARBON-BASIS"] == "mixed" and row["CARBON(g/Mtok)"] == "-"
    wrong_key = tpctl("top", "deployments", "--sort-by", "power%")
    assert wrong_key.returncode == 2 and "not a figure of modeldeployments" in wrong_key.stderr
    assert tpctl("top", "replicas").returncode == 2


def test_events_list_and_filters(tpctl: Tpctl, placed: str) -> None:
    rows = parse_table(tpctl.ok("events"))
    assert list(rows[0]) == [
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "COUNT",
        "FIRST SEEN",
        "SOURCE",
        "MESSAGE",
    ]
    assert any(r["REASON"] == "NodeReady" and r["OBJECT"].startswith("node/") for r in rows)
    mine = parse_table(tpctl.ok("events", "--for", f"deploy/{placed}"))
    assert mine and {r["OBJECT"] for r in mine} == {f"modeldeployment/{placed}"}
    assert any(r["REASON"] == "Scheduled" for r in mine)
    data = yaml.safe_load(tpctl.ok("events", "--limit", "2", "-o", "yaml"))
    assert data["kind"] == "EventList" and len(data["items"]) == 2
    assert json.loads(tpctl.ok("events", "-o", "json", "--for", "node/node-0"))["items"]
    assert tpctl("events", "--for", "node").returncode == 2


def test_logs_of_a_replica_from_its_agent(tpctl: Tpctl, placed: str) -> None:
    replica = next(
        r["metadata"]["name"]
        for r in tpctl.json("get", "replicas")["items"]
        if r["spec"]["deployment"] == placed
    )
    lines = tpctl.ok("logs", replica, "--tail", "5").splitlines()
    assert 0 < len(lines) <= 5
    by_deployment = tpctl("logs", f"deployment/{placed}")
    assert by_deployment.returncode == 0
    assert "Showing the log of replica" in by_deployment.stderr


def test_logs_errors(tpctl: Tpctl) -> None:
    missing = tpctl("logs", "no-such-replica")
    assert missing.returncode == 1
    assert 'Error from server (NotFound): Replica "no-such-replica" not found' in missing.stderr
    assert tpctl("logs", "node/node-1").returncode == 2
    assert tpctl("logs").returncode == 2


def test_a_sites_energy_contracts_are_applied_and_shown(tpctl: Tpctl) -> None:
    """docs/energy.md's Node: its contracts go through the server and back."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "energy.md"
    (manifest,) = re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
    tpctl.ok("apply", "-f", "-", input=manifest)
    try:
        spec = tpctl.json("get", "node", "factory-toronto")["spec"]
        (contract,) = spec["contracts"]
        assert (contract["type"], contract["mwh"], contract["zone"]) == ("ppa", 8760, "CA-ON")
        assert spec["residualMixGPerKwh"] == 95
        bad = manifest.replace("mwh: 8760", "mwh: -1")
        refused = tpctl("apply", "-f", "-", input=bad)
        assert refused.returncode == 1
        assert "spec.contracts[0].mwh: Input should be greater than 0" in refused.stderr
    finally:
        tpctl.ok("delete", "node", "factory-toronto")

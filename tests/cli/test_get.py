"""`tpctl get`: every output format parsed back, selectors, names, aliases, and its errors."""

from __future__ import annotations

import json

import yaml

from tests.cli.conftest import NODES, Tpctl, parse_table

NODE_HEADERS = [
    "NAME",
    "STATUS",
    "TIER",
    "REGION",
    "GPUS(free/total)",
    "POWER(kW)",
    "RENEWABLE",
    "CARBON(g/kWh)",
    "AGE",
]


def test_nodes_table_shows_power_and_carbon(tpctl: Tpctl) -> None:
    out = tpctl.ok("get", "nodes")
    assert out.splitlines()[0].split() == NODE_HEADERS
    rows = {r["NAME"]: r for r in parse_table(out)}
    assert set(rows) >= set(NODES)
    row = rows["node-1"]
    assert row["STATUS"] == "Ready"
    assert (row["TIER"], row["REGION"]) == ("edge", "eu-west")
    assert row["GPUS(free/total)"].endswith("/4")
    draw, budget = row["POWER(kW)"].split("/")
    assert float(draw) > 0 and budget == "20"
    # write_fleet: node-1 has 1 kW renewable, carbon 110 g/kWh
    assert row["CARBON(g/kWh)"] == "110"
    assert row["RENEWABLE"].endswith("%")


def test_nodes_wide_adds_columns(tpctl: Tpctl) -> None:
    rows = {r["NAME"]: r for r in parse_table(tpctl.ok("get", "nodes", "-o", "wide"))}
    row = rows["node-2"]
    assert row["COUNTRY"] == "DE"
    assert row["GPU-MODELS"] == "L4x4"
    assert row["PRICE(/kWh)"] == "0.200"


def test_json_is_a_kubectl_list(tpctl: Tpctl) -> None:
    data = json.loads(tpctl.ok("get", "nodes", "-o", "json"))
    assert data["apiVersion"] == "tokenplane.io/v1"
    assert data["kind"] == "NodeList"
    assert int(data["metadata"]["resourceVersion"]) > 0
    names = [item["metadata"]["name"] for item in data["items"]]
    assert set(names) >= set(NODES)
    node = next(i for i in data["items"] if i["metadata"]["name"] == "node-3")
    assert node["kind"] == "Node"
    assert node["spec"]["capacity"]["gpus"][0] == {"model": "L4", "memoryGb": 24.0, "count": 4}
    assert node["status"]["energy"]["carbonGPerKwh"] == 130.0


def test_yaml_list_and_single_object(tpctl: Tpctl) -> None:
    data = yaml.safe_load(tpctl.ok("get", "nodes", "-o", "yaml"))
    assert data["kind"] == "NodeList"
    assert len(data["items"]) >= len(NODES)
    one = yaml.safe_load(tpctl.ok("get", "node", "node-0", "-o", "yaml"))
    assert one["kind"] == "Node"
    assert one["metadata"]["name"] == "node-0"
    assert one["spec"]["location"]["country"] == "DE"


def test_name_output_round_trips_as_arguments(tpctl: Tpctl) -> None:
    names = tpctl.ok("get", "nodes", "-o", "name").split()
    assert set(names) >= {f"node/{n}" for n in NODES}
    rows = parse_table(tpctl.ok("get", *names[:2]))
    assert [r["NAME"] for r in rows] == [n.split("/")[1] for n in names[:2]]


def test_aliases_and_names(tpctl: Tpctl) -> None:
    for alias in ("no", "NODES"):
        assert tpctl.ok("get", alias, "node-1", "-o", "name").strip() == "node/node-1"
    rows = parse_table(tpctl.ok("get", "nodes", "node-1", "node-2"))
    assert [r["NAME"] for r in rows] == ["node-1", "node-2"]


def test_label_selector(tpctl: Tpctl) -> None:
    assert tpctl.ok("get", "nodes", "-l", "site=node-2", "-o", "name").split() == ["node/node-2"]
    names = tpctl.ok("get", "nodes", "-l", "site in (node-0,node-3)", "-o", "name").split()
    assert names == ["node/node-0", "node/node-3"]
    empty = tpctl("get", "nodes", "-l", "site=nowhere")
    assert empty.returncode == 0 and empty.stdout == ""
    assert "No resources found" in empty.stderr
    bad = tpctl("get", "nodes", "-l", "site in (a")
    assert bad.returncode == 1
    assert "Error from server (Invalid)" in bad.stderr and "site in (a" in bad.stderr


def test_empty_list_is_still_a_list(tpctl: Tpctl) -> None:
    data = json.loads(tpctl.ok("get", "replicas", "-l", "nothing=here", "-o", "json"))
    assert data["kind"] == "ReplicaList" and data["items"] == []


def test_not_found_prints_what_exists_and_exits_1(tpctl: Tpctl) -> None:
    result = tpctl("get", "nodes", "node-1", "no-such-node")
    assert result.returncode == 1
    assert [r["NAME"] for r in parse_table(result.stdout)] == ["node-1"]
    assert 'Error from server (NotFound): Node "no-such-node" not found' in result.stderr


def test_unknown_resource_type_is_a_usage_error(tpctl: Tpctl) -> None:
    result = tpctl("get", "pods")
    assert result.returncode == 2
    assert 'no resource type "pods"' in result.stderr
    assert "nodes (no)" in result.stderr and "deploy" in result.stderr


def test_usage_errors_exit_2(tpctl: Tpctl) -> None:
    for args in (
        ["get"],
        ["get", "nodes", "-o", "xml"],
        ["frobnicate"],
        ["get", "nodes", "node-1", "-l", "a=b"],
        ["get", "node/"],
    ):
        result = tpctl(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Usage:" in result.stderr

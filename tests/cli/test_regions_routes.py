"""Demand regions the fleet does not know are refused at apply time, naming the ones it does
(`tpctl get regions`); and where each demand point is served: `tpctl get routes`, the Routes
section of `describe deployment`, ATTAINMENT in `get deployments`."""

from __future__ import annotations

import json

from tests.cli.conftest import Tpctl, deployment_manifest, parse_table, wait_until

REGION_DEMAND = """apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {{name: {name}}}
spec:
  model: {{name: m}}
  resources: {{gpus: 1, gpuModel: L4}}
  demand:
    - {{name: paris, lat: 48.85, lon: 2.35}}
    - {{region: {region}}}
"""


def test_get_regions_lists_the_fleets_and_the_tables(tpctl: Tpctl) -> None:
    rows = {r["NAME"]: r for r in parse_table(tpctl.ok("get", "regions"))}
    assert rows["eu-west"]["SOURCE"] == "fleet"  # write_fleet puts the nodes there
    assert int(rows["eu-west"]["NODES"]) >= 4
    assert 45 <= float(rows["eu-west"]["LAT"]) <= 55
    assert rows["eu-central-1"]["SOURCE"] == "table"  # the shipped cloud regions
    assert abs(float(rows["eu-central-1"]["LAT"]) - 50.1) < 1
    items = json.loads(tpctl.ok("get", "regions", "-o", "json"))["items"]
    assert {"name": "eu-west", "source": "fleet"}.items() <= next(
        i for i in items if i["name"] == "eu-west"
    ).items()
    assert tpctl.ok("get", "regions", "eu-west", "-o", "name").split() == ["region/eu-west"]


def test_an_unknown_demand_region_is_refused_at_apply_time(tpctl: Tpctl) -> None:
    manifest = REGION_DEMAND.format(name="rg-unknown", region="eu-central")
    for args in (["apply"], ["apply", "--dry-run=server"]):
        result = tpctl(*args, "-f", "-", input=manifest)
        assert result.returncode == 1
        assert "Error from server (Invalid)" in result.stderr
        assert "spec.demand[1].region: unknown region 'eu-central'" in result.stderr
        assert "did you mean" in result.stderr and "eu-central-1" in result.stderr
        assert "eu-west" in result.stderr and "tpctl get regions" in result.stderr
    assert tpctl("get", "deploy", "rg-unknown").returncode == 1
    for region in ("eu-west", "eu-central-1"):  # the fleet's, and one of the table's
        name = f"rg-{region}"
        tpctl.ok("apply", "-f", "-", input=REGION_DEMAND.format(name=name, region=region))
        tpctl.ok("wait", f"deploy/{name}", "--for=condition=Ready", "--timeout=60s")
        tpctl.ok("delete", "deploy", name)


def test_routes_say_who_serves_each_demand_point(tpctl: Tpctl) -> None:
    tpctl.ok("apply", "-f", "-", input=deployment_manifest("rt-eu", replicas=2))
    try:
        tpctl.ok("wait", "deploy/rt-eu", "--for=condition=Ready", "--timeout=60s")
        wait_until(
            lambda: tpctl.json("get", "deploy", "rt-eu")["status"].get("routes"),
            60,
            "routes to be set",
        )
        status = tpctl.json("get", "deploy", "rt-eu")["status"]
        running = {r["name"] for r in status["replicas"] if r["phase"] == "Running"}
        rows = parse_table(tpctl.ok("get", "routes", "rt-eu"))
        assert list(rows[0]) == [
            "DEPLOYMENT",
            "DEMAND",
            "REPLICA",
            "NODE",
            "SHARE",
            "RTT(ms)",
            "SOURCE",
            "IN SLO",
        ]
        assert {r["DEMAND"] for r in rows} == {"paris", "berlin"}
        assert {r["REPLICA"] for r in rows} <= running
        for demand in ("paris", "berlin"):
            shares = [float(r["SHARE"].rstrip("%")) for r in rows if r["DEMAND"] == demand]
            assert abs(sum(shares) - 100) <= len(shares)  # rounding of each share
        assert all(r["SOURCE"] in ("measured", "estimated") for r in rows)
        assert all(r["IN SLO"] in ("yes", "no") for r in rows)
        everything = parse_table(tpctl.ok("get", "routes"))
        assert {r["DEPLOYMENT"] for r in everything} >= {"rt-eu"}

        expected = f"{status['attainment'] * 100:.1f}%"
        deployments = {r["NAME"]: r for r in parse_table(tpctl.ok("get", "deployments"))}
        assert deployments["rt-eu"]["ATTAINMENT"] == expected
        described = tpctl.ok("describe", "deployment", "rt-eu")
        section = described.split("Routes:\n", 1)[1]
        assert f"  Attainment:       {expected} of demand within the 80 ms SLO" in section
        assert "DEMAND" in section and "paris" in section
    finally:
        tpctl.ok("delete", "deploy", "rt-eu")

"""`tpctl up --detach`, as a newcomer types it: a whole tokenplane that follows the sun, then
`tpctl down` and nothing left running.

Real processes end to end (tokenplane-server with local Ray, the hollow agents,
the recorder), tpctl as a subprocess with its own config file and state dir.
A small default fleet (30 nodes) on a fast clock (6 simulated minutes a
second), which `tpctl up` holds at 16:30 UTC on midsummer's day until every
deployment runs, when every EU factory still has solar to spare; the European
sunset (the factories' surplus ends between 17:20 and 18:10 UTC) follows within
20 seconds, and the EU deployment has to move.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

TPCTL = str(Path(sys.executable).parent / "tpctl")
CLOCK = ["--clock-speed", "360", "--clock-start", "2026-06-21T16:30:00Z"]
REPLACES = "tokenplane.io/replaces"
MOVE_TIMEOUT_S = 60.0  # after all deployments run
IDLE_DRAW_SHARE = 0.1  # agents/hollow.py: a hollow site's draw with no replicas


class Tpctl:
    def __init__(self, tmp: Path) -> None:
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TOKENPLANE_", "TPCTL_"))
        }
        self.env |= {
            "TPCTL_CONFIG": str(tmp / "config.yaml"),
            "TOKENPLANE_STATE_DIR": str(tmp / "state"),
        }

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TPCTL, *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )

    def ok(self, *args: str, timeout: float = 60) -> str:
        result = self(*args, timeout=timeout)
        assert result.returncode == 0, f"tpctl {' '.join(args)}:\n{result.stderr}{result.stdout}"
        return result.stdout

    def items(self, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.ok("get", kind, "-o", "json"))["items"]
        return items


def check_constraints(deployments: list[dict[str, Any]], nodes: dict[str, dict[str, Any]]) -> None:
    """Every replica on a node of an allowed tier and country, edge-only on the edge; routes."""
    for d in deployments:
        spec, placement = d["spec"], d["spec"].get("placement", {})
        for r in d["status"]["replicas"]:
            node = nodes[r["node"]]["spec"]
            where = f"{d['metadata']['name']}/{r['name']} on {r['node']}"
            if placement.get("tiers"):
                assert node["tier"] in placement["tiers"], where
            if placement.get("countries"):
                assert node["location"]["country"] in placement["countries"], where
            if placement.get("privacy") == "edge-only":
                assert node["tier"] == "edge", where
        # Users are routed to Running replicas only, each route marked against the SLO.
        running = {r["name"] for r in d["status"]["replicas"] if r["phase"] == "Running"}
        weight = {p["name"]: p.get("weight", 1.0) for p in spec["demand"]}
        routes = d["status"].get("routes", [])
        assert {r["demand"] for r in routes} == set(weight), d["metadata"]["name"]
        within = {r["demand"] for r in routes if r.get("withinSlo")}
        for r in routes:
            assert r["replica"] in running, r
            assert r.get("withinSlo", False) == (r.get("rttMs", 0.0) <= spec["latencySloMs"]), r
        share = sum(weight[p] for p in within) / sum(weight.values())
        assert d["status"]["attainment"] == pytest.approx(share, abs=1e-6)


def check_power(nodes: dict[str, dict[str, Any]], replicas: list[dict[str, Any]]) -> None:
    """No node draws, or has been given replicas for, more than its power budget."""
    committed: dict[str, float] = {}
    for r in replicas:
        if r["status"]["phase"] != "Failed":
            committed[r["spec"]["nodeName"]] = (
                committed.get(r["spec"]["nodeName"], 0.0) + r["spec"]["resources"]["powerKw"]
            )
    for name, node in nodes.items():
        budget = node["spec"]["power"]["budgetKw"]
        assert IDLE_DRAW_SHARE * budget + committed.get(name, 0.0) <= budget, name
        energy = node["status"].get("energy", {})
        assert energy.get("itDrawKw", 0.0) <= budget + 1e-6, name


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def in_sessions(sessions: set[int]) -> list[str]:
    left = []
    for proc in psutil.process_iter(["name"]):
        try:
            if os.getsid(proc.pid) in sessions and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {proc.info['name']}")
        except (psutil.Error, ProcessLookupError):
            continue
    return left


@pytest.mark.timeout(240)
def test_up_follows_the_sun_then_down_leaves_nothing(tmp_path: Path) -> None:
    tpctl = Tpctl(tmp_path)
    started = time.monotonic()
    up = tpctl(
        "up",
        "--detach",
        "--nodes",
        "30",
        "--listen",
        "127.0.0.1:0",
        "--timeout",
        "90s",
        *CLOCK,
        timeout=150,
    )
    record_path = tmp_path / "state" / "up.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"pids": {}}
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        assert "deployments Running after" in up.stdout
        assert "factory-" in up.stdout  # the placements table
        print(f"tpctl up: all deployments Running after {time.monotonic() - started:.1f}s")

        # tpctl now points at the new server (the `local` context), as kind does for kubectl
        config = (tmp_path / "config.yaml").read_text()
        assert "currentContext: local" in config

        deployments = tpctl.items("deployments")
        assert {d["metadata"]["name"] for d in deployments} == {
            "chat-eu",
            "code-assist-na",
            "chat-asia",
            "assistant-edge",
            "chat-world",
        }
        assert all(d["status"]["readyReplicas"] == d["spec"]["replicas"] for d in deployments)
        nodes = {n["metadata"]["name"]: n for n in tpctl.items("nodes")}
        check_constraints(deployments, nodes)
        source = nodes["factory-madrid"]["status"]["energy"]["source"]
        assert "renewable=modelled:pvlib-clearsky@simulated(360x" in source
        assert "carbon=modelled:codecarbon-energy-mix(ES," in source

        # the sun sets over Europe: a replica moves, make-before-break
        deadline = time.monotonic() + MOVE_TIMEOUT_S
        moved: list[dict[str, Any]] = []
        while not moved and time.monotonic() < deadline:
            time.sleep(1.0)
            moved = [
                r
                for r in tpctl.items("replicas")
                if r["metadata"].get("annotations", {}).get(REPLACES)
                and r["status"]["phase"] == "Running"
            ]
        assert moved, "no replica moved as the sun set:\n" + tpctl.ok("events")
        replicas = tpctl.items("replicas")
        names = {r["metadata"]["name"] for r in replicas}
        events = tpctl.ok("events")
        for new in moved:
            old = new["metadata"]["annotations"][REPLACES]
            assert f"(replacing {old})" in events  # the new one was scheduled as its replacement
            if old not in names:  # the old one stopped: only after the new one ran
                assert f"stopping {old}" in events

        deployments = tpctl.items("deployments")
        nodes = {n["metadata"]["name"]: n for n in tpctl.items("nodes")}
        check_constraints(deployments, nodes)
        check_power(nodes, replicas)

        report = json.loads(tpctl.ok("report", "-o", "json"))
        assert report["fleet"]["moves"] >= 1
        assert report["over_budget"] == []
        assert report["fleet"]["carbon_g_per_mtok"] is not None
        # one kind of figure (zones' averages, replayed or modelled): its Scope 2 figures,
        # the same both ways without contracts, none of the hollow fleet's power measured
        (kind,) = report["carbon_by_kind"]
        assert kind["kind"] == "average/lifecycle"
        assert kind["g_per_mtok"] == pytest.approx(report["fleet"]["carbon_g_per_mtok"])
        assert kind["market_g_per_mtok"] == pytest.approx(kind["g_per_mtok"])
        assert kind["residual_is_grid"] and kind["measured_power_share"] == 0
        assert set(kind["provenance"]) <= {"measured", "modelled"}
        assert Path(report["plot"]).stat().st_size > 10_000
    finally:
        down = tpctl("down", "--no-report", timeout=90)
    assert down.returncode == 0, down.stderr + down.stdout
    pids = set(record["pids"].values())
    assert pids and all(gone(pid) for pid in pids)
    assert in_sessions(pids) == []  # Ray's processes were in the server's session
    assert "currentContext: local" not in (tmp_path / "config.yaml").read_text()
    assert not record_path.exists()

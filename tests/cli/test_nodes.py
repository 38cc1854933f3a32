"""`tpctl cordon`, `uncordon` and `drain`, against nodes with replicas on them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.conftest import NODES, Tpctl, deployment_manifest, parse_table, wait_until


def _status(tpctl: Tpctl, node: str) -> str:
    return parse_table(tpctl.ok("get", "node", node))[0]["STATUS"]


def _replicas(tpctl: Tpctl, deployment: str) -> list[dict[str, str]]:
    return [
        r
        for r in parse_table(tpctl.ok("get", "replicas") or "NAME\n")
        if r.get("DEPLOYMENT") == deployment
    ]


@pytest.fixture
def uncordon_all(tpctl: Tpctl) -> Iterator[None]:
    yield
    tpctl.ok("uncordon", *NODES)


@pytest.mark.usefixtures("uncordon_all")
def test_cordon_and_uncordon(tpctl: Tpctl) -> None:
    assert tpctl.ok("cordon", "node-1").strip() == "node/node-1 cordoned"
    assert _status(tpctl, "node-1") == "Ready,SchedulingDisabled"
    assert tpctl.json("get", "node", "node-1")["spec"]["unschedulable"] is True
    assert tpctl.ok("cordon", "node-1").strip() == "node/node-1 already cordoned"
    assert tpctl.ok("uncordon", "node-1").strip() == "node/node-1 uncordoned"
    assert _status(tpctl, "node-1") == "Ready"
    assert tpctl.ok("cordon", "-l", "site in (node-2,node-3)").splitlines() == [
        "node/node-2 cordoned",
        "node/node-3 cordoned",
    ]


def test_cordon_errors(tpctl: Tpctl) -> None:
    missing = tpctl("cordon", "no-such-node")
    assert missing.returncode == 1
    assert 'Error from server (NotFound): Node "no-such-node" not found' in missing.stderr
    assert tpctl("cordon").returncode == 2
    assert tpctl("drain", "no-such-node").returncode == 1
    assert tpctl("drain", "node-1", "--timeout", "soon").returncode == 2


@pytest.mark.usefixtures("uncordon_all")
def test_drain_moves_replicas_before_returning(tpctl: Tpctl) -> None:
    tpctl.ok("apply", "-f", "-", input=deployment_manifest("nd-drain", replicas=2))
    wait_until(
        lambda: [r["PHASE"] for r in _replicas(tpctl, "nd-drain")] == ["Running"] * 2,
        what="nd-drain's replicas to run",
    )
    node = _replicas(tpctl, "nd-drain")[0]["NODE"]
    out = tpctl.ok("drain", node, "--timeout", "30s", timeout=60)
    lines = out.splitlines()
    assert lines[0] == f"node/{node} cordoned"
    assert lines[-1] == f"node/{node} drained"
    assert any(" -> " in line and line.startswith("replica ") for line in lines[1:-1])
    assert _status(tpctl, node) == "Ready,SchedulingDisabled"
    # When drain returns, the replicas run elsewhere.
    moved = _replicas(tpctl, "nd-drain")
    running = [r for r in moved if r["PHASE"] == "Running"]
    assert len(running) == 2 and node not in {r["NODE"] for r in running}
    tpctl.ok("delete", "deploy", "nd-drain")


@pytest.mark.usefixtures("uncordon_all")
def test_drain_that_cannot_finish_times_out(tpctl: Tpctl) -> None:
    tpctl.ok("apply", "-f", "-", input=deployment_manifest("nd-stuck"))
    wait_until(
        lambda: [r["PHASE"] for r in _replicas(tpctl, "nd-stuck")] == ["Running"],
        what="nd-stuck's replica to run",
    )
    node = _replicas(tpctl, "nd-stuck")[0]["NODE"]
    tpctl.ok("cordon", *[n for n in NODES if n != node])  # nowhere to move to
    result = tpctl("drain", node, "--timeout", "1s")
    assert result.returncode == 1
    assert f"drain of node/{node} did not finish" in result.stderr
    assert "stays cordoned" in result.stderr and "uncordon" in result.stderr
    tpctl.ok("delete", "deploy", "nd-stuck")

"""`tpctl curtail` and the Curtailment resource through get, describe and delete, on the real
server and hollow fleet of tests/cli (a budget above the node's own, so no load moves)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.conftest import Tpctl, parse_table, wait_until


@pytest.fixture
def event(tpctl: Tpctl) -> Iterator[str]:
    yield "cli-event"
    tpctl("delete", "curtailment", "cli-event")


def test_curtail_records_who_asked_how_much_how_long_and_why(tpctl: Tpctl, event: str) -> None:
    out = tpctl.ok(
        "curtail", "node-1", "--to", "1.8MW", "--for", "4h", "--reason", "TSO 4411", "--name", event
    )
    assert out.strip() == f"curtailment/{event} created: node-1 held to 1800 kW for 4h"

    def row() -> dict[str, str]:
        (found,) = [r for r in parse_table(tpctl.ok("get", "curtailments")) if r["NAME"] == event]
        return found

    wait_until(lambda: row()["PHASE"] == "Active", what="the event to start")
    shown = row()
    assert (shown["NODE"], shown["BUDGET(kW)"], shown["FOR"]) == ("node-1", "1800", "4h")
    assert shown["BY"], "the server says who asked"
    spec = tpctl.json("get", "curtailment", event)["spec"]
    assert spec["reason"] == "TSO 4411" and spec["durationSeconds"] == 14400
    described = tpctl.ok("describe", "curtailment", event)
    assert "CurtailmentStarted" in described and "Baseline draw:" in described
    node = tpctl.ok("describe", "node", "node-1")
    assert "CurtailmentStarted" in node
    curtailed = node.split("Curtailments:")[1].splitlines()
    assert curtailed[2].split()[:4] == [event, "Active", "1800", "4h"]
    tpctl.ok("delete", "curtailment", event)
    assert event not in tpctl.ok("get", "curtailments")


def test_curtail_refuses_a_bad_power_or_site_naming_it(tpctl: Tpctl) -> None:
    bad = tpctl("curtail", "node-1", "--to", "1.8MX", "--for", "4h")
    assert bad.returncode == 2 and "--to" in bad.stderr and "1.8MW" in bad.stderr
    assert tpctl("curtail", "node-1", "--to", "1MW", "--for", "0s").returncode == 2
    missing = tpctl("curtail", "no-such-node", "--to", "1MW", "--for", "1h")
    assert missing.returncode == 1
    assert 'Node "no-such-node" not found' in missing.stderr
    assert "no-such-node" not in tpctl.ok("get", "curtailments")

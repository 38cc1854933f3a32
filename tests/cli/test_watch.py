"""`--watch` sees changes as they happen: nodes cordoned, deployments applied, events recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.cli.conftest import Tpctl, deployment_manifest
from tests.support.processes import HollowFleet, write_fleet


def json_documents(text: str) -> list[Any]:
    """Objects printed one after another, as `-o json --watch` does."""
    decoder, docs, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        try:
            doc, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            break  # the rest is still being written
        docs.append(doc)
    return docs


def test_get_nodes_watch_table_sees_cordon(tpctl: Tpctl) -> None:
    watch = tpctl.popen("get", "nodes", "--watch")
    try:
        watch.wait_for(lambda text: text.count("\n") >= 5)  # header and four nodes
        tpctl.ok("cordon", "node-0")
        watch.wait_for(lambda text: "SchedulingDisabled" in text)
    finally:
        tpctl.ok("uncordon", "node-0")

    def rows(text: str) -> list[list[str]]:
        return [line.split()[:2] for line in text.splitlines()[5:]]

    text = watch.wait_for(lambda text: ["node-0", "Ready"] in rows(text))
    assert watch.interrupt() == 0
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["NAME", "STATUS", "TIER"]
    changes = rows(text)
    cordoned = lines[5 + changes.index(["node-0", "Ready,SchedulingDisabled"])]
    uncordoned = lines[5 + changes.index(["node-0", "Ready"])]
    # Each row is as wide as the widest before it, so later rows line up.
    assert uncordoned.index("edge") == cordoned.index("edge")


def test_get_deployments_watch_json_with_events(tpctl: Tpctl) -> None:
    watch = tpctl.popen(
        "get", "deploy", "-l", "suite=watch", "-w", "-o", "json", "--output-watch-events"
    )
    try:
        tpctl.ok("apply", "-f", "-", input=deployment_manifest("wt-json", labels="{suite: watch}"))
        watch.wait_for(lambda text: any(d["type"] == "ADDED" for d in json_documents(text)))
        tpctl.ok("delete", "deploy", "wt-json")
        text = watch.wait_for(
            lambda text: any(d["type"] == "DELETED" for d in json_documents(text))
        )
    finally:
        tpctl("delete", "deploy", "wt-json", "--ignore-not-found")
    assert watch.interrupt() == 0
    events = json_documents(text)
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["kind"] == "ModelDeployment"
    assert events[0]["object"]["metadata"]["name"] == "wt-json"
    deleted = next(e for e in events if e["type"] == "DELETED")
    # A deletion shows the object as last seen, as kubectl does.
    assert deleted["object"]["spec"]["model"]["name"] == "llama-3-8b"


def test_watch_only_yaml_prints_changes_not_the_list(tpctl: Tpctl) -> None:
    watch = tpctl.popen("get", "node", "node-2", "--watch-only", "-o", "yaml")
    try:
        # The watch prints nothing until it has started and seen a change, so a change
        # made before it started goes unseen: change until one is seen.
        for _ in range(10):
            tpctl.ok("cordon", "node-1", "node-2")
            try:
                text = watch.wait_for(lambda text: "unschedulable: true" in text, timeout_s=2)
                break
            except AssertionError:
                tpctl.ok("uncordon", "node-1", "node-2")
    finally:
        tpctl.ok("uncordon", "node-1", "node-2")
    assert watch.interrupt() == 0
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert {d["metadata"]["name"] for d in docs} == {"node-2"}


def test_events_watch_sees_a_node_join_and_leave(
    tpctl: Tpctl, tmp_path: Path, cluster: Any
) -> None:
    watch = tpctl.popen("events", "--watch", "--for", "node/wt-extra-0")
    fleet_file = write_fleet(tmp_path / "extra.yaml", 1, prefix="wt-extra")
    extra = HollowFleet(fleet_file, cluster.server.address, cluster.server.token_file)
    try:
        watch.wait_for(lambda text: "NodeReady" in text)
    finally:
        extra.stop()
    text = watch.wait_for(lambda text: "NodeNotReady" in text)
    assert watch.interrupt() == 0
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["LAST", "SEEN", "TYPE", "REASON"]
    assert any("Warning" in line and "node/wt-extra-0" in line for line in lines)
    events = json.loads(tpctl.ok("events", "--for", "node/wt-extra-0", "-o", "json"))
    assert events["kind"] == "EventList"
    reasons = [e["reason"] for e in events["items"]]
    assert reasons[:2] == ["NodeReady", "NodeNotReady"]
    tpctl.ok("delete", "node", "wt-extra-0")


def test_top_nodes_watch_refreshes(tpctl: Tpctl) -> None:
    watch = tpctl.popen("top", "nodes", "--watch", "--interval", "0.3s", "--sort-by", "name")
    try:
        refreshed = watch.wait_for(lambda text: text.count("node-3") >= 2)
        assert refreshed.count("NAME") >= 2
    finally:
        assert watch.interrupt() == 0

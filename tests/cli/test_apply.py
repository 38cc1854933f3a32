"""`tpctl apply`, `diff` and `delete`: manifests in, created/configured/unchanged out."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml

from tests.cli.conftest import Tpctl, deployment_manifest, parse_table, wait_until


def test_apply_reports_created_configured_unchanged(tpctl: Tpctl, tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(deployment_manifest("ap-one") + "---\n" + deployment_manifest("ap-two"))
    assert tpctl.ok("apply", "-f", str(path)).splitlines() == [
        "modeldeployment/ap-one created",
        "modeldeployment/ap-two created",
    ]
    assert tpctl.ok("apply", "-f", str(path)).splitlines() == [
        "modeldeployment/ap-one unchanged",
        "modeldeployment/ap-two unchanged",
    ]
    path.write_text(
        deployment_manifest("ap-one", replicas=2) + "---\n" + deployment_manifest("ap-two")
    )
    assert tpctl.ok("apply", "-f", str(path)).splitlines() == [
        "modeldeployment/ap-one configured",
        "modeldeployment/ap-two unchanged",
    ]
    got = tpctl.json("get", "deployment", "ap-one")
    assert got["kind"] == "ModelDeployment"
    assert got["spec"]["replicas"] == 2
    assert got["metadata"]["generation"] == 2
    tpctl.ok("delete", "deploy", "ap-one", "ap-two")


def test_apply_directory_and_stdin(tpctl: Tpctl, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(deployment_manifest("ap-dir-a"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text(deployment_manifest("ap-dir-b"))
    (tmp_path / "notes.txt").write_text("not a manifest")
    assert tpctl.ok("apply", "-f", str(tmp_path)).splitlines() == [
        "modeldeployment/ap-dir-a created",
    ]
    assert tpctl.ok("apply", "-R", "-f", str(tmp_path)).splitlines() == [
        "modeldeployment/ap-dir-a unchanged",
        "modeldeployment/ap-dir-b created",
    ]
    out = tpctl.ok("apply", "-f", "-", input=deployment_manifest("ap-stdin"))
    assert out.strip() == "modeldeployment/ap-stdin created"
    assert tpctl.ok("delete", "-R", "-f", str(tmp_path)).splitlines() == [
        'modeldeployment "ap-dir-a" deleted',
        'modeldeployment "ap-dir-b" deleted',
    ]
    tpctl.ok("delete", "deployment/ap-stdin")


def test_get_yaml_applies_back_unchanged(tpctl: Tpctl) -> None:
    tpctl.ok("apply", "-f", "-", input=deployment_manifest("ap-roundtrip"))
    manifest = yaml.safe_load(tpctl.ok("get", "deploy", "ap-roundtrip", "-o", "yaml"))
    # The reconciler writes status meanwhile; without this, apply would rightly say Conflict.
    del manifest["metadata"]["resourceVersion"]
    assert tpctl.ok("apply", "-f", "-", input=yaml.safe_dump(manifest)).strip() == (
        "modeldeployment/ap-roundtrip unchanged"
    )
    tpctl.ok("delete", "deploy", "ap-roundtrip")


def test_dry_run_changes_nothing(tpctl: Tpctl) -> None:
    for flag, suffix in (
        ("--dry-run", "(server dry run)"),
        ("--dry-run=server", "(server dry run)"),
        ("--dry-run=client", "(dry run)"),
    ):
        out = tpctl.ok("apply", flag, "-f", "-", input=deployment_manifest("ap-dry"))
        assert out.strip() == f"modeldeployment/ap-dry created {suffix}"
        result = tpctl("get", "deploy", "ap-dry")
        assert result.returncode == 1 and "(NotFound)" in result.stderr
    tpctl.ok("apply", "--dry-run=none", "-f", "-", input=deployment_manifest("ap-dry"))
    changed = deployment_manifest("ap-dry", replicas=2)
    assert tpctl.ok("apply", "--dry-run=client", "-f", "-", input=changed).strip() == (
        "modeldeployment/ap-dry configured (dry run)"
    )
    assert tpctl.json("get", "deploy", "ap-dry")["spec"]["replicas"] == 1
    bad = tpctl("apply", "--dry-run=maybe", "-f", "-", input=changed)
    assert bad.returncode == 2 and "'none', 'client', 'server'" in bad.stderr
    tpctl.ok("delete", "deploy", "ap-dry")


def test_apply_merges_three_ways(tpctl: Tpctl, tmp_path: Path) -> None:
    """A field removed from the file goes; one another tool set stays; both as kubectl."""
    path = tmp_path / "m.yaml"
    path.write_text(
        deployment_manifest(
            "ap-merge",
            labels="{team: search, tier: gold}",
            extra_spec="  placement: {tiers: [edge]}\n",
        )
    )
    assert tpctl.ok("apply", "-f", str(path)).strip() == "modeldeployment/ap-merge created"
    live = tpctl.json("get", "deploy", "ap-merge")
    remembered = json.loads(
        live["metadata"]["annotations"]["tokenplane.io/last-applied-configuration"]
    )
    assert remembered["metadata"]["labels"] == {"team": "search", "tier": "gold"}
    assert "status" not in remembered and "resourceVersion" not in remembered["metadata"]
    # someone else adds a label and an annotation, not through apply
    assert tpctl.ok("label", "deploy", "ap-merge", "owner=billing").strip() == (
        "modeldeployment/ap-merge labeled"
    )
    tpctl.ok("annotate", "deploy/ap-merge", "note=set elsewhere")
    clash = tpctl("label", "deploy", "ap-merge", "team=ads")
    assert clash.returncode == 1 and "--overwrite" in clash.stderr
    # the file drops the tier label and the placement; replicas change
    path.write_text(deployment_manifest("ap-merge", replicas=2, labels="{team: search}"))
    assert tpctl.ok("apply", "-f", str(path)).strip() == "modeldeployment/ap-merge configured"
    merged = tpctl.json("get", "deploy", "ap-merge")
    assert merged["metadata"]["labels"] == {"team": "search", "owner": "billing"}
    assert merged["metadata"]["annotations"]["note"] == "set elsewhere"
    assert merged["spec"]["replicas"] == 2
    assert merged["spec"].get("placement", {}).get("tiers", []) == []
    assert tpctl.ok("apply", "-f", str(path)).strip() == "modeldeployment/ap-merge unchanged"
    tpctl.ok("delete", "deploy", "ap-merge")


def test_invalid_manifest_names_file_document_and_field(tpctl: Tpctl, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    bad = deployment_manifest("ap-bad").replace("replicas: 1", "replicas: -3")
    path.write_text(deployment_manifest("ap-good") + "---\n" + bad)
    result = tpctl("apply", "-f", str(path))
    assert result.returncode == 1
    assert f"{path} (document 2): spec.replicas" in result.stderr
    assert "greater than or equal to 0" in result.stderr
    # Nothing is applied when any document is invalid.
    assert tpctl("get", "deploy", "ap-good").returncode == 1


def test_invalid_yaml_and_missing_file(tpctl: Tpctl, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: tokenplane.io/v1\nkind: [unclosed\n")
    result = tpctl("apply", "-f", str(path))
    assert result.returncode == 1
    assert str(path) in result.stderr and "invalid YAML: line" in result.stderr
    missing = tpctl("apply", "-f", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1
    assert "nope.yaml: no such file or directory" in missing.stderr
    assert tpctl("apply").returncode == 2


def test_stale_resource_version_is_a_conflict(tpctl: Tpctl) -> None:
    tpctl.ok("apply", "-f", "-", input=deployment_manifest("ap-stale"))
    fetched = yaml.safe_load(tpctl.ok("get", "deploy", "ap-stale", "-o", "yaml"))
    tpctl.ok("apply", "-f", "-", input=deployment_manifest("ap-stale", replicas=2))
    fetched["spec"]["replicas"] = 3  # edited from a copy that is now out of date
    result = tpctl("apply", "-f", "-", input=yaml.safe_dump(fetched))
    assert result.returncode == 1
    assert result.stderr.startswith("Error from server (Conflict): -: modeldeployment/ap-stale:")
    assert "stale" in result.stderr and "get the object again" in result.stderr
    stale_delete = tpctl("delete", "-f", "-", input=yaml.safe_dump(fetched))
    assert stale_delete.returncode == 1 and "(Conflict)" in stale_delete.stderr
    tpctl.ok("delete", "deploy", "ap-stale")


def test_diff_shows_what_apply_would_change(tpctl: Tpctl, tmp_path: Path) -> None:
    """Exit 1 on differences, 0 without, 2 on an error: kubectl diff's codes."""
    path = tmp_path / "d.yaml"
    path.write_text(deployment_manifest("ap-diff"))
    created = tpctl("diff", "-f", str(path))
    assert created.returncode == 1, created.stderr
    assert "--- /dev/null" in created.stdout
    assert "+++ merged/modeldeployment/ap-diff" in created.stdout
    assert "+  name: ap-diff" in created.stdout
    assert "last-applied" not in created.stdout
    assert "\x1b[" not in created.stdout  # no colour into a pipe
    tpctl.ok("apply", "-f", str(path))
    assert tpctl.ok("diff", "-f", str(path)) == ""
    path.write_text(deployment_manifest("ap-diff", replicas=3, labels="{team: search}"))
    changed = tpctl("diff", "-f", str(path))
    assert changed.returncode == 1
    assert "--- live/modeldeployment/ap-diff" in changed.stdout
    assert "-  replicas: 1" in changed.stdout and "+  replicas: 3" in changed.stdout
    assert "+    team: search" in changed.stdout
    # diff is a dry run: the live object is unchanged
    assert tpctl.json("get", "deploy", "ap-diff")["spec"]["replicas"] == 1
    broken = tpctl("diff", "-f", str(tmp_path / "missing.yaml"))
    assert broken.returncode == 2 and "no such file" in broken.stderr
    tpctl.ok("delete", "-f", str(path))


def test_diff_is_coloured_on_a_terminal(tpctl: Tpctl, tmp_path: Path) -> None:
    import pty
    import subprocess

    from tests.cli.conftest import TPCTL

    path = tmp_path / "c.yaml"
    path.write_text(deployment_manifest("ap-colour"))
    env = {k: v for k, v in tpctl.env.items() if k != "NO_COLOR"}
    leader, follower = pty.openpty()
    proc = subprocess.run(
        [TPCTL, "diff", "-f", str(path)],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
        timeout=60,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.returncode == 1
    assert re.search(rb"\x1b\[32m(\x1b\[22m)?\+  name: ap-colour", out)  # additions in green
    assert re.search(rb"\x1b\[31m(\x1b\[1m)?--- /dev/null", out)


def test_delete_by_name_selector_and_errors(tpctl: Tpctl) -> None:
    for name in ("ap-del-a", "ap-del-b"):
        tpctl.ok("apply", "-f", "-", input=deployment_manifest(name, labels="{suite: del}"))
    assert tpctl.ok("delete", "deploy", "-l", "suite=del").splitlines() == [
        'modeldeployment "ap-del-a" deleted',
        'modeldeployment "ap-del-b" deleted',
    ]
    gone = tpctl("delete", "deployment", "ap-del-a")
    assert gone.returncode == 1
    assert gone.stderr.strip() == (
        'Error from server (NotFound): ModelDeployment "ap-del-a" not found'
    )
    assert tpctl("delete", "deployment", "ap-del-a", "--ignore-not-found").returncode == 0
    assert tpctl("delete", "deployments").returncode == 2  # no names, no -l, no --all
    assert tpctl("delete").returncode == 2


def test_deployment_columns_and_placement(tpctl: Tpctl) -> None:
    """Replicas get placed by the scheduler; the table shows where and how far and how clean."""
    manifest = deployment_manifest(
        "ap-placed", replicas=2, annotations='{"tokenplane.io/tokens-per-second": "2000"}'
    )
    tpctl.ok("apply", "-f", "-", input=manifest)

    def ready() -> bool:
        rows = parse_table(tpctl.ok("get", "deploy", "ap-placed"))
        return rows[0]["READY"] == "2/2"

    wait_until(ready, what="ap-placed to be 2/2 ready")
    row = parse_table(tpctl.ok("get", "deploy", "ap-placed", "-o", "wide"))[0]
    assert row["MODEL"] == "llama-3-8b:3.1"
    assert all(n.startswith("node-") for n in row["NODES"].split(","))
    assert float(row["RTT-P95(ms)"]) > 0
    assert float(row["CARBON(g/Mtok)"]) >= 0
    assert row["PER-REPLICA"] == "1xL4,0.8kW" and row["SLO(ms)"] == "80"
    status = tpctl.json("get", "deploy", "ap-placed")["status"]
    assert status["readyReplicas"] == 2
    assert {r["node"] for r in status["replicas"]} == set(row["NODES"].split(","))
    replicas = parse_table(tpctl.ok("get", "replicas", "-o", "wide"))
    mine = [r for r in replicas if r["DEPLOYMENT"] == "ap-placed"]
    assert len(mine) == 2 and {r["PHASE"] for r in mine} == {"Running"}
    assert all(r["ENDPOINT"] for r in mine)
    replica_list = json.loads(tpctl.ok("get", "rep", "-o", "json"))
    assert replica_list["kind"] == "ReplicaList"
    tpctl.ok("delete", "deploy", "ap-placed")

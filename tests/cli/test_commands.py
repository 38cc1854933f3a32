"""kubectl's other verbs on tpctl: explain, api-resources, wait, scale, edit, events --types
with server-side aggregation, and "did you mean" at the root."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.cli.conftest import TPCTL, Tpctl, deployment_manifest, parse_table, wait_until

UNPLACEABLE = """apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {name: cmd-nowhere}
spec:
  model: {name: m}
  resources: {gpus: 1, gpuModel: NO-SUCH-GPU}
"""


def test_explain_reads_the_schema_with_docs(tpctl: Tpctl) -> None:
    import inspect

    from controlplane.resources.deployment import EnergyPolicy

    out = tpctl.ok("explain", "deployment.spec.energyPolicy")
    assert out.startswith("KIND:     ModelDeployment\nVERSION:  tokenplane.io/v1\n")
    assert "FIELD:    energyPolicy <Object>" in out
    first_words = " ".join(inspect.cleandoc(EnergyPolicy.__doc__ or "").split()[:4])
    assert first_words in " ".join(out.split())  # the model's own docstring
    spec = tpctl.ok("explain", "deployment.spec")
    fields = {
        line.split()[0]: line.split()[1]
        for line in spec.splitlines()
        if line.startswith("   ") and "\t" in line
    }
    assert fields["replicas"] == "<integer>"
    assert fields["latencySloMs"] == "<number>"
    assert fields["demand"] == "<[]Object>"
    assert fields["model"] == "<Object>"
    assert "model\t<Object> -required-" in spec
    tier = tpctl.ok("explain", "node.spec.tier")
    assert "FIELD:    tier <string>" in tier and "One of: edge, factory, cloud." in tier
    leaf = tpctl.ok("explain", "node.spec.power.budgetKw")
    assert "FIELD:    budgetKw <number>" in leaf and "Must be > 0." in leaf
    tree = tpctl.ok("explain", "node", "--recursive")
    assert "      location\t<Object> -required-" in tree
    bad = tpctl("explain", "deployment.spec.colour")
    assert bad.returncode == 2 and 'field "colour" does not exist' in bad.stderr
    assert "latencySloMs" in bad.stderr


def test_api_resources(tpctl: Tpctl) -> None:
    rows = {r["NAME"]: r for r in parse_table(tpctl.ok("api-resources"))}
    assert rows["modeldeployments"]["KIND"] == "ModelDeployment"
    assert "deploy" in rows["modeldeployments"]["SHORTNAMES"].split(",")
    assert "scale" in rows["modeldeployments"]["VERBS"]
    assert tpctl.ok("api-resources", "-o", "name").split() == [
        "nodes",
        "modeldeployments",
        "replicas",
        "curtailments",
        "routes",
        "regions",
    ]
    assert rows["curtailments"]["VERBS"].endswith(",curtail")


def test_wait_scale_and_apply_keeps_the_scale(tpctl: Tpctl, tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    # no replicas in the file: a later scale is kept by apply (the three-way merge)
    path.write_text(deployment_manifest("cmd-wait").replace("  replicas: 1\n", ""))
    tpctl.ok("apply", "-f", str(path))
    out = tpctl.ok("wait", "deployment/cmd-wait", "--for=condition=Ready", "--timeout=60s")
    assert out.strip() == "modeldeployment/cmd-wait condition met"
    assert tpctl.ok("scale", "deployment", "cmd-wait", "--replicas", "2").strip() == (
        "modeldeployment/cmd-wait scaled"
    )
    tpctl.ok(
        "wait", "deploy", "cmd-wait", "--for=jsonpath={.status.readyReplicas}=2", "--timeout=60s"
    )
    assert tpctl.ok("apply", "-f", str(path)).strip() == "modeldeployment/cmd-wait unchanged"
    assert tpctl.json("get", "deploy", "cmd-wait")["spec"]["replicas"] == 2
    stale = tpctl("scale", "deploy/cmd-wait", "--replicas", "1", "--current-replicas", "5")
    assert stale.returncode == 1 and "(Conflict)" in stale.stderr
    timeout = tpctl("wait", "deploy/cmd-wait", "--for=jsonpath={.spec.replicas}=7", "--timeout=1s")
    assert timeout.returncode == 1
    assert "timed out waiting for the condition on modeldeployment/cmd-wait" in timeout.stderr
    tpctl.ok("delete", "deploy", "cmd-wait")
    assert tpctl.ok("wait", "deploy/cmd-wait", "--for=delete").strip() == (
        "modeldeployment/cmd-wait deleted"
    )


EDITOR = """import pathlib, sys
path = pathlib.Path(sys.argv[1])
calls = pathlib.Path(sys.argv[0]).with_suffix(".calls")
n = int(calls.read_text()) if calls.exists() else 0
calls.write_text(str(n + 1))
text = path.read_text()
(pathlib.Path(sys.argv[0]).with_suffix(f".seen{n}")).write_text(text)
if n == 0:
    text = text.replace("replicas: 1", "replicas: -3")   # invalid: reopened with the error
else:
    text = text.replace("replicas: -3", "replicas: 2")
path.write_text(text)
"""


def test_edit_revalidates_and_reopens_on_error(tpctl: Tpctl, tmp_path: Path) -> None:
    tpctl.ok("apply", "-f", "-", input=deployment_manifest("cmd-edit"))
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    out = tpctl.ok("edit", "deployment", "cmd-edit", env={"EDITOR": f"{sys.executable} {editor}"})
    assert out.strip() == "modeldeployment/cmd-edit edited"
    assert (tmp_path / "editor.calls").read_text() == "2"
    reopened = (tmp_path / "editor.seen1").read_text()
    assert "# The edited file had errors:" in reopened
    assert "spec.replicas" in reopened and "greater than or equal to 0" in reopened
    assert tpctl.json("get", "deploy", "cmd-edit")["spec"]["replicas"] == 2
    same = tpctl.ok("edit", "deploy/cmd-edit", env={"EDITOR": "true"})
    assert same.strip() == "Edit cancelled, no changes made."
    tpctl.ok("delete", "deploy", "cmd-edit")


RIVAL_EDITOR = """import pathlib, subprocess, sys
tpctl, path = sys.argv[1], pathlib.Path(sys.argv[2])
# Someone else scales the deployment while this edit is open.
subprocess.run([tpctl, "scale", "deployment", "cmd-rival", "--replicas", "3"], check=True)
path.write_text(path.read_text().replace("replicas: 1", "replicas: 2"))
"""


def test_edit_over_someone_elses_change_is_a_conflict_and_the_edit_is_kept(
    tpctl: Tpctl, tmp_path: Path
) -> None:
    tpctl.ok("apply", "-f", "-", input=deployment_manifest("cmd-rival"))
    editor = tmp_path / "editor.py"
    editor.write_text(RIVAL_EDITOR)
    result = tpctl(
        "edit", "deployment", "cmd-rival", env={"EDITOR": f"{sys.executable} {editor} {TPCTL}"}
    )
    assert result.returncode == 1
    assert "Conflict" in result.stderr and "Your edit is kept in" in result.stderr
    kept = Path(result.stderr.split("Your edit is kept in ")[1].split()[0])
    assert "replicas: 2" in kept.read_text()
    assert tpctl.json("get", "deploy", "cmd-rival")["spec"]["replicas"] == 3  # theirs stands
    tpctl.ok("delete", "deploy", "cmd-rival")


def test_repeated_events_are_one_line_with_a_count(tpctl: Tpctl) -> None:
    tpctl.ok("apply", "-f", "-", input=UNPLACEABLE)
    try:

        def repeated() -> bool:
            data = json.loads(tpctl.ok("events", "--for", "deploy/cmd-nowhere", "-o", "json"))
            return any(e["reason"] == "FailedScheduling" and e["count"] >= 3 for e in data["items"])

        wait_until(repeated, what="FailedScheduling to repeat")
        rows = parse_table(tpctl.ok("events", "--for", "deploy/cmd-nowhere", "--types", "Warning"))
        failed = [r for r in rows if r["REASON"] == "FailedScheduling"]
        assert len(failed) == 1  # one line per series, not one per pass
        assert int(failed[0]["COUNT"]) >= 3
        assert failed[0]["FIRST SEEN"] and failed[0]["LAST SEEN"]
        assert {r["TYPE"] for r in rows} == {"Warning"}
        normal = json.loads(tpctl.ok("events", "--types", "Normal", "-o", "json"))["items"]
        assert normal and {e["type"] for e in normal} == {"Normal"}
        bad = tpctl("events", "--types", "Critical")
        assert bad.returncode == 2 and "Normal, Warning" in bad.stderr
    finally:
        tpctl.ok("delete", "deploy", "cmd-nowhere")


def test_did_you_mean_at_the_root(tpctl: Tpctl) -> None:
    result = tpctl("gte", "nodes")
    assert result.returncode == 2
    assert "No such command 'gte'" in result.stderr
    assert "Did you mean one of these?\n    get" in result.stderr


def test_logs_follow_prints_until_the_replica_goes(tpctl: Tpctl) -> None:
    tpctl.ok("apply", "-f", "-", input=deployment_manifest("cmd-logs"))
    tpctl.ok("wait", "deploy/cmd-logs", "--for=condition=Ready", "--timeout=60s")
    replica = next(
        r["name"]
        for r in tpctl.json("get", "deploy", "cmd-logs")["status"]["replicas"]
        if r["phase"] == "Running"
    )
    follow = tpctl.popen("logs", "-f", replica)
    try:
        follow.wait_for(lambda text: f"hollow replica {replica}" in text)
        tpctl.ok("delete", "deploy", "cmd-logs")
        assert follow.proc.wait(30) == 0
        assert follow.proc.stderr is not None
        assert f"replica {replica} is gone" in follow.proc.stderr.read()
    finally:
        if follow.proc.poll() is None:
            follow.interrupt()


def test_follow_prints_only_what_was_added() -> None:
    from controlplane.cli.commands.logs import appended

    assert appended(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert appended(["a", "b"], ["a", "b"]) == []
    assert appended(["a"], ["x", "y"]) == ["x", "y"]  # more new lines than the window

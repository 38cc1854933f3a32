"""kubectl's output and filtering on `tpctl get`: jsonpath, custom columns (inline and from a
file), --sort-by, --no-headers, --show-labels, -L and --field-selector, each parsed back."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import NODES, Tpctl, deployment_manifest, parse_table, wait_until

OURS = "site in (node-0,node-1,node-2,node-3)"  # the session's nodes; other tests add their own


def test_jsonpath_prints_what_the_template_asks(tpctl: Tpctl) -> None:
    names = tpctl.ok("get", "nodes", "-l", OURS, "-o", "jsonpath={.items[*].metadata.name}")
    assert sorted(names.split(" ")) == NODES
    lines = tpctl.ok(
        "get",
        "nodes",
        "-l",
        OURS,
        "-o",
        r'jsonpath={range .items[*]}{.metadata.name}{"\t"}'
        r'{.status.energy.carbonGPerKwh}{"\n"}{end}',
    ).splitlines()
    assert dict(line.split("\t") for line in lines) == {
        "node-0": "100",
        "node-1": "110",
        "node-2": "120",
        "node-3": "130",
    }
    # a single object is the template's root; filters and escaped label keys work
    assert tpctl.ok("get", "node", "node-2", "-o", "jsonpath={.spec.location.country}") == "DE"
    assert tpctl.ok("get", "node", "node-2", "-o", r"jsonpath={.metadata.labels.site}") == "node-2"
    picked = tpctl.ok(
        "get",
        "nodes",
        "-l",
        OURS,
        "-o",
        "jsonpath={.items[?(@.status.energy.carbonGPerKwh>115)].metadata.name}",
    )
    assert sorted(picked.split()) == ["node-2", "node-3"]


def test_bad_templates_are_usage_errors(tpctl: Tpctl) -> None:
    result = tpctl("get", "nodes", "-o", "jsonpath={.items[")
    assert result.returncode == 2 and "unbalanced braces" in result.stderr
    result = tpctl("get", "nodes", "-o", "jsonpath={.items[}")
    assert result.returncode == 2 and "is not a JSONPath expression" in result.stderr
    result = tpctl("get", "nodes", "-o", "custom-columns=NAME")
    assert result.returncode == 2 and "HEADER:JSONPATH" in result.stderr
    result = tpctl("get", "nodes", "-o", "jsonpathx")
    assert result.returncode == 2 and "custom-columns-file=FILE" in result.stderr


def test_custom_columns_inline_and_from_a_file(tpctl: Tpctl, tmp_path: Path) -> None:
    spec = "NAME:.metadata.name,CARBON:.status.energy.carbonGPerKwh,MISSING:.spec.nothing"
    rows = parse_table(tpctl.ok("get", "nodes", "-l", OURS, "-o", f"custom-columns={spec}"))
    assert {r["NAME"]: (r["CARBON"], r["MISSING"]) for r in rows} == {
        "node-0": ("100", "<none>"),
        "node-1": ("110", "<none>"),
        "node-2": ("120", "<none>"),
        "node-3": ("130", "<none>"),
    }
    template = tmp_path / "cols.txt"
    template.write_text("NAME          GPU\n.metadata.name   .spec.capacity.gpus[*].model\n")
    rows = parse_table(
        tpctl.ok("get", "nodes", "-l", OURS, "-o", f"custom-columns-file={template}")
    )
    assert [(r["NAME"], r["GPU"]) for r in rows] == [(n, "L4") for n in NODES]


def test_sort_by_no_headers_and_labels(tpctl: Tpctl) -> None:
    out = tpctl.ok(
        "get",
        "nodes",
        "-l",
        OURS,
        "--sort-by",
        "{.status.energy.carbonGPerKwh}",
        "--no-headers",
        "-o",
        "custom-columns=N:.metadata.name",
    )
    assert out.split() == NODES  # no header line, carbon ascending
    out = tpctl.ok("get", "nodes", "-l", OURS, "--sort-by", ".metadata.labels.site", "--no-headers")
    assert [line.split()[0] for line in out.splitlines()] == NODES
    rows = parse_table(tpctl.ok("get", "nodes", "-l", OURS, "--show-labels", "-L", "site"))
    assert {r["NAME"]: (r["SITE"], r["LABELS"]) for r in rows}["node-1"] == (
        "node-1",
        "site=node-1",
    )


def test_field_selectors(tpctl: Tpctl, tmp_path: Path) -> None:
    manifest = tmp_path / "fs.yaml"
    manifest.write_text(deployment_manifest("fieldsel", replicas=2))
    tpctl.ok("apply", "-f", str(manifest))
    try:

        def running() -> bool:
            replicas = json.loads(tpctl.ok("get", "replicas", "-o", "json"))["items"]
            return (
                sum(
                    1
                    for r in replicas
                    if r["spec"]["deployment"] == "fieldsel" and r["status"]["phase"] == "Running"
                )
                == 2
            )

        wait_until(running, what="fieldsel's replicas to run")
        replicas = json.loads(tpctl.ok("get", "replicas", "-o", "json"))["items"]
        ours = [r for r in replicas if r["spec"]["deployment"] == "fieldsel"]
        node = ours[0]["spec"]["nodeName"]
        rows = parse_table(
            tpctl.ok(
                "get",
                "replicas",
                "--field-selector",
                f"spec.deployment=fieldsel,status.phase=Running,spec.nodeName={node}",
            )
        )
        assert {r["NAME"] for r in rows} == {
            r["metadata"]["name"] for r in ours if r["spec"]["nodeName"] == node
        }
        rows = parse_table(
            tpctl.ok(
                "get", "replicas", "--field-selector", "spec.deployment==fieldsel,status.ready=true"
            )
        )
        assert len(rows) == 2
        out = tpctl.ok(
            "get",
            "replicas",
            "--field-selector",
            "spec.deployment=fieldsel,status.phase!=Running",
            "-o",
            "name",
        )
        assert out == ""
        names = tpctl.ok(
            "get",
            "nodes",
            "--field-selector",
            "metadata.name=node-3,status.ready=true",
            "-o",
            "name",
        )
        assert names.split() == ["node/node-3"]
        deployments = tpctl.ok(
            "get",
            "deploy",
            "--field-selector",
            "metadata.name=fieldsel,status.phase=Running",
            "-o",
            "name",
        )
        assert deployments.split() == ["modeldeployment/fieldsel"]
    finally:
        tpctl.ok("delete", "deployment", "fieldsel")
    bad = tpctl("get", "nodes", "--field-selector", "spec.colour=red")
    assert bad.returncode == 2
    assert 'field label not supported for Node: "spec.colour"' in bad.stderr
    assert "status.ready" in bad.stderr

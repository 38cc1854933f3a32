"""The chart's values: wrong ones fail before anything is applied, with a message that
names the fix; the schema and values.yaml agree; every key is documented; no secret
can be given as a plain value; NOTES.txt tells how to reach the API and warns."""

from __future__ import annotations

import json
import re

import pytest
import yaml

# (values file content, phrases the failure must contain: what is wrong and the fix).
# A tuple holds alternatives: Helm 4 and Helm 3 word schema errors differently.
BAD_VALUES = {
    "embedded-store-with-3-replicas": (
        {"controlPlane": {"replicas": 3, "store": {"mode": "embedded"}}},
        [
            "controlPlane.store.mode=embedded",
            "controlPlane.replicas=3",
            "Set controlPlane.replicas=1",
        ],
    ),
    "unknown-store-mode": (
        {"controlPlane": {"store": {"mode": "sqlite"}}},
        [
            ("/controlPlane/store/mode", "controlPlane.store.mode must be one of"),
            "embedded",
            "etcd",
        ],
    ),
    "misspelt-key": (
        {"controlPlane": {"replica": 3}},
        [
            (
                "additional properties 'replica' not allowed",
                "Additional property replica is not allowed",
            )
        ],
    ),
    "unknown-ray-mode": (
        {"controlPlane": {"ray": {"mode": "kuberay"}}},
        [("/controlPlane/ray/mode", "controlPlane.ray.mode must be one of"), "local", "external"],
    ),
    "external-ray-without-address": (
        {"controlPlane": {"ray": {"mode": "external"}}},
        ["Set controlPlane.ray.address"],
    ),
    "replicas-without-leader-election": (
        {"controlPlane": {"replicas": 2, "leaderElection": {"enabled": False}}},
        ["Set controlPlane.leaderElection.enabled=true"],
    ),
    "even-etcd-members": (
        {"etcd": {"bundled": {"replicas": 2}}},
        ["etcd.bundled.replicas=2", "Set etcd.bundled.replicas=3"],
    ),
    "etcd-store-without-etcd": (
        {"etcd": {"bundled": {"enabled": False}}},
        ["controlPlane.store.mode=etcd needs an etcd cluster", "etcd.external.endpoints"],
    ),
    "bundled-and-external-etcd": (
        {"etcd": {"external": {"endpoints": ["etcd.example.com:2379"]}}},
        ["Set etcd.bundled.enabled=false"],
    ),
    "external-etcd-tls-without-secret": (
        {
            "etcd": {
                "bundled": {"enabled": False},
                "external": {"endpoints": ["etcd.example.com:2379"], "tls": {"enabled": True}},
            }
        },
        ["Set etcd.external.tls.secretName"],
    ),
    "tls-secret-not-named": (
        {"tls": {"source": "secret"}},
        ["Set it, or use tls.source=generate", "tls.existingSecret"],
    ),
    "cert-manager-without-issuer": (
        {"tls": {"source": "certManager"}},
        ["tls.certManager.issuerRef.name"],
    ),
    "agents-only-without-control-plane-details": (
        {"controlPlane": {"enabled": False}, "agent": {"enabled": True}},
        ["Set agent.server", "Set auth.bootstrapToken.existingSecret", "Set tls.source=secret"],
    ),
    "agents-without-a-site": (
        {"agent": {"enabled": True}},
        ["Set agent.node.spec.location.lat and .lon", "Set agent.node.spec.power.budgetKw"],
    ),
    "process-driver-without-templates": (
        {
            "agent": {
                "enabled": True,
                "node": {"spec": {"location": {"lat": 1, "lon": 1}, "power": {"budgetKw": 5}}},
                "runtime": {"driver": "process"},
            }
        },
        ["Add one per model runtime under agent.runtime.process.templates"],
    ),
    "nothing-enabled": (
        {"controlPlane": {"enabled": False}},
        ["nothing to install"],
    ),
    "token-given-as-a-value": (
        {"auth": {"bootstrapToken": {"token": "s3cr3t-in-values"}}},
        [("additional properties 'token' not allowed", "Additional property token is not allowed")],
    ),
}


@pytest.mark.parametrize("case", BAD_VALUES, ids=list(BAD_VALUES))
def test_bad_values_fail_with_the_fix(helm_template, tmp_path, case):
    values, phrases = BAD_VALUES[case]
    path = tmp_path / f"values-{case}.yaml"
    path.write_text(yaml.safe_dump(values))
    result = helm_template(path)
    assert result.returncode != 0, f"{case} rendered:\n{result.stdout[:500]}"
    message = " ".join(result.stderr.split())  # the messages wrap over lines
    for phrase in phrases:
        alternatives = phrase if isinstance(phrase, tuple) else (phrase,)
        assert any(a in message for a in alternatives), f"{phrase!r} not in:\n{result.stderr}"


def test_every_problem_is_reported_at_once(helm_template, tmp_path):
    path = tmp_path / "values-bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "controlPlane": {
                    "replicas": 3,
                    "store": {"mode": "embedded"},
                    "ray": {"mode": "external"},
                },
                "tls": {"source": "secret"},
            }
        )
    )
    result = helm_template(path)
    assert result.returncode != 0
    assert "INVALID VALUES" in result.stderr
    assert result.stderr.count("\n  - ") == 3, result.stderr


# --- values.schema.json and values.yaml -------------------------------------------------


@pytest.fixture(scope="module")
def values(chart_dir) -> dict:
    return yaml.safe_load((chart_dir / "values.yaml").read_text())


@pytest.fixture(scope="module")
def schema(chart_dir) -> dict:
    return json.loads((chart_dir / "values.schema.json").read_text())


def _walk(schema: dict, root: dict, path: str = ""):
    """Yield (path, subschema) for every property, following local $refs."""
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), f"{path}: remote $ref {ref}"
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from _walk(sub, root, f"{path}.{key}" if path else key)


def test_schema_is_self_contained(schema):
    text = json.dumps(schema)
    refs = re.findall(r'"\$ref": "([^"]*)"', text)
    assert refs and all(r.startswith("#/") for r in refs), refs
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_schema_documents_every_value_with_its_default(schema, values):
    def lookup(path):
        node = values
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return KeyError
            node = node[part]
        return node

    checked = 0
    for path, sub in _walk(schema, schema):
        if not path:
            continue
        assert sub.get("description"), f"{path}: no description"
        value = lookup(path)
        if value is KeyError:
            continue
        assert "type" in sub or "oneOf" in sub, f"{path}: no type"
        assert sub.get("default") == value, (
            f"{path}: schema default {sub.get('default')!r} != {value!r}"
        )
        if "enum" in sub:
            assert value in sub["enum"]
        checked += 1
    assert checked > 100


def test_schema_enums(schema):
    enums = {path: sub["enum"] for path, sub in _walk(schema, schema) if "enum" in sub}
    assert enums["controlPlane.store.mode"] == ["embedded", "etcd"]
    assert enums["controlPlane.ray.mode"] == ["local", "external"]
    assert enums["controlPlane.leaderElection.routing"] == ["podLabel", "readiness"]
    assert enums["tls.source"] == ["generate", "secret", "certManager"]
    assert enums["agent.node.spec.tier"] == ["edge", "factory", "cloud"]
    assert enums["agent.runtime.driver"] == ["kubernetes", "process"]
    assert enums["agent.energy.source"] == ["static", "file", "http", "modelled"]


def test_every_value_is_documented(chart_dir):
    """Each key in values.yaml has a comment on the line above it, or belongs to a
    block whose parent key is documented as a whole (resources, probes, ...)."""
    lines = (chart_dir / "values.yaml").read_text().splitlines()
    documented_blocks: list[int] = []  # indents of documented block parents
    undocumented = []
    for i, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if not match:
            continue
        indent = len(match.group(1))
        documented_blocks = [d for d in documented_blocks if d < indent]
        comment = []  # the comment lines directly above the key
        for j in range(i - 1, -1, -1):
            if not lines[j].strip().startswith("#"):
                break
            comment.append(lines[j].strip())
        if not comment and not documented_blocks:
            undocumented.append(f"line {i + 1}: {line.strip()}")
        if any(c.startswith("# --") for c in comment):
            documented_blocks.append(indent)
    assert not undocumented, "undocumented values:\n" + "\n".join(undocumented)


def test_no_secret_can_be_given_as_a_plain_value(schema):
    for path, _ in _walk(schema, schema):
        leaf = path.rsplit(".", 1)[-1].lower()
        assert not re.fullmatch(r"(token|password|apikey|privatekey|key|cert|secret)s?", leaf), path


# --- NOTES.txt ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm_can_dry_run(helm) -> None:
    """`helm install --dry-run=client` renders NOTES.txt without a cluster from Helm 4 on;
    Helm 3 needs a cluster for it (and `helm template` never prints NOTES)."""
    if helm("version", "--short").stdout.startswith("v3."):
        pytest.skip("NOTES.txt needs Helm 4 (scripts/install-helm) or a cluster to render")


def test_notes_tell_how_to_reach_the_api(helm, helm_can_dry_run):
    result = helm("install", "tp", "helm/tokenplane", "--dry-run=client", "-n", "tokenplane")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n tokenplane port-forward svc/tp-tokenplane 7070:7070" in notes
    assert "tpctl config set-context tp --server localhost:7070" in notes
    assert '--ca-file "$PWD/tokenplane-ca.crt" --use' in notes
    assert "tpctl get nodes" in notes
    assert "helm test tp" in notes
    assert "--allow-insecure" not in notes


def test_notes_warn_about_insecure_values(helm, ci_dir, helm_can_dry_run):
    result = helm(
        "install",
        "tp",
        "helm/tokenplane",
        "--dry-run=client",
        "-n",
        "tokenplane",
        "-f",
        str(ci_dir / "values-insecure-readiness.yaml"),
    )
    assert result.returncode == 0, result.stderr
    notes = " ".join(result.stdout.split("NOTES:", 1)[1].split())
    assert "WARNING:" in notes
    assert "tls.enabled=false: the API runs with --allow-insecure" in notes
    assert "etcd.bundled.tls.enabled=false" in notes
    assert "networkPolicy.enabled=false" in notes

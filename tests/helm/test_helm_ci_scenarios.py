"""Every install scenario in helm/tokenplane/ci/ lints strictly, renders, and renders
only manifests that are valid for a current Kubernetes, checked offline against the
Kubernetes OpenAPI schemas shipped by kubernetes-validate."""

from __future__ import annotations

import kubernetes_validate

# Custom resources the chart may render. Their CRDs are not in the Kubernetes schemas;
# any other unknown kind is a mistake.
KNOWN_CRDS = {
    ("cert-manager.io/v1", "Certificate"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
KUBERNETES_VERSIONS = ["1.33.0", kubernetes_validate.utils.latest_version()]


def test_ci_scenarios_cover_the_issue(ci_dir):
    names = {p.stem for p in ci_dir.glob("values-*.yaml")}
    assert {
        "values-embedded",
        "values-ha-bundled-etcd",
        "values-external-etcd-tls",
        "values-agents-only",
    } <= names


def test_helm_lint_strict(helm, chart_dir, ci_values):
    result = helm("lint", "--strict", str(chart_dir), "-f", str(ci_values))
    assert result.returncode == 0, result.stdout + result.stderr


def test_helm_lint_strict_with_defaults(helm, chart_dir):
    result = helm("lint", "--strict", str(chart_dir))
    assert result.returncode == 0, result.stdout + result.stderr


def _schema_problems(manifests) -> list[str]:
    problems = []
    for doc in manifests.docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                if (doc["apiVersion"], doc["kind"]) not in KNOWN_CRDS:
                    problems.append(
                        f"{name}: no Kubernetes {version} schema for {doc['apiVersion']}"
                    )
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                problems.append(f"{name} (Kubernetes {version}): {path}: {e.message}")
    return problems


def test_manifests_valid_for_kubernetes(render, ci_values):
    manifests = render(ci_values)
    assert manifests.docs, "nothing rendered"
    assert not _schema_problems(manifests), "\n".join(_schema_problems(manifests))


def test_default_manifests_valid_for_kubernetes(render):
    manifests = render()
    assert not _schema_problems(manifests), "\n".join(_schema_problems(manifests))

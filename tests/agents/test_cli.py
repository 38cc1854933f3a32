"""`tokenplane-agent` flags: plaintext only to loopback, clear errors before anything starts."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from agents.main import main
from controlplane.address import is_loopback
from tests.agents.support import STATIC_ENERGY, node_yaml


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_plaintext_goes_only_to_loopback(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(node_yaml("edge-1", energy=STATIC_ENERGY))
    code, out = invoke("--config", str(config), "--server", "203.0.113.5:7070", "--token", "t")
    assert code == 2 and "plaintext only to a loopback server" in out
    code, out = invoke(
        "--config",
        str(config),
        "--server",
        "203.0.113.5:7070",
        "--token",
        "t",
        "--cert-file",
        str(config),
    )
    assert code == 2 and "--cert-file and --key-file go together" in out
    assert is_loopback("127.0.0.1:7070") and is_loopback("[::1]:7070")
    assert is_loopback("localhost:7070") and not is_loopback("10.0.0.1:7070")


def test_config_errors_exit_before_joining(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(node_yaml("edge-1", energy="    source: file"))
    code, out = invoke("--config", str(config), "--token", "t")
    assert code == 2 and "agent.energy.path: Field required" in out
    code, out = invoke("--token", "t")
    assert code == 2 and "give --config node.yaml" in out


def test_an_unreadable_state_file_stops_the_agent(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(node_yaml("edge-1", energy=STATIC_ENERGY))
    state = tmp_path / "state"
    state.mkdir()
    (state / "agent-state.json").write_text("{")
    code, out = invoke(
        "--config",
        str(config),
        "--token",
        "t",
        "--state-dir",
        str(state),
        "--server",
        "127.0.0.1:1",
    )
    assert code == 2 and "cannot read the agent's state" in out

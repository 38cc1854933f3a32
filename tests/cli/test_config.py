"""Contexts, overrides, credentials, and the errors when the server cannot be reached or refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Cluster, Tpctl, deployment_manifest, user_env
from tests.support.processes import ServerProcess

VIEWER_TOKEN = "viewer-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789ab"


@pytest.fixture
def fresh(tmp_path: Path) -> Tpctl:
    """tpctl with an empty config file of its own."""
    return Tpctl(user_env(tmp_path / "home", tmp_path / "config.yaml"))


def test_contexts_are_managed_like_kubeconfig(fresh: Tpctl, tmp_path: Path) -> None:
    assert fresh.ok(
        "config",
        "set-context",
        "prod",
        "--server",
        "cp.example.org:7070",
        "--ca-file",
        "ca.crt",
        "--token",
        "secret-token",
    ).strip() == ('Context "prod" created.')
    fresh.ok("config", "set-context", "local", "--server", "127.0.0.1:7070")
    assert fresh.ok("config", "current-context").strip() == "prod"  # the first becomes current
    assert fresh.ok("config", "use-context", "local").strip() == 'Switched to context "local".'
    rows = fresh.ok("config", "get-contexts").splitlines()
    assert rows[0].split() == ["CURRENT", "NAME", "SERVER", "AUTH", "TRANSPORT"]
    assert rows[1].split() == ["prod", "cp.example.org:7070", "token", "tls"]
    assert rows[2].split() == ["*", "local", "127.0.0.1:7070", "none", "default"]
    assert fresh.ok("config", "get-contexts", "-o", "name").split() == ["prod", "local"]
    view = yaml.safe_load(fresh.ok("config", "view"))
    prod = view["contexts"][0]
    assert prod["token"] == "REDACTED" and prod["caFile"] == str(Path.cwd() / "ca.crt")
    assert view["currentContext"] == "local"
    raw = yaml.safe_load(fresh.ok("config", "view", "--raw"))
    assert raw["contexts"][0]["token"] == "secret-token"
    fresh.ok("config", "set-context", "prod", "--token-file", str(tmp_path / "t"))
    prod = yaml.safe_load(fresh.ok("config", "view"))["contexts"][0]
    assert "token" not in prod and prod["tokenFile"] == str(tmp_path / "t")
    assert (tmp_path / "config.yaml").stat().st_mode & 0o777 == 0o600
    fresh.ok("config", "delete-context", "local")
    assert fresh("config", "current-context").returncode == 1
    missing = fresh("config", "use-context", "nope")
    assert missing.returncode == 1 and 'no context "nope"' in missing.stderr
    assert fresh("config", "set-context", "new").returncode == 1  # no --server


def test_context_flag_and_environment_choose_the_server(fresh: Tpctl, cluster: Cluster) -> None:
    fresh.ok("config", "set-context", "dead", "--server", "127.0.0.1:1")
    fresh.ok("config", "set-context", "live", "--server", cluster.server.address)
    dead = fresh("get", "nodes")
    assert dead.returncode == 1
    assert 'cannot reach the tokenplane server at 127.0.0.1:1 (from context "dead"' in dead.stderr
    assert fresh("--context", "live", "get", "nodes", "-o", "name").returncode == 0
    assert fresh("get", "nodes", "--context", "live", "-o", "name").returncode == 0
    assert fresh("get", "nodes", "-o", "name", env={"TPCTL_CONTEXT": "live"}).returncode == 0
    by_env = fresh("get", "nodes", env={"TOKENPLANE_SERVER": cluster.server.address})
    assert by_env.returncode == 0
    flag_wins = fresh(
        "get", "nodes", "--server", "127.0.0.1:1", env={"TOKENPLANE_SERVER": cluster.server.address}
    )
    assert flag_wins.returncode == 1 and "(from --server)" in flag_wins.stderr
    env_named = fresh("get", "nodes", env={"TOKENPLANE_SERVER": "127.0.0.1:1"})
    assert "(from TOKENPLANE_SERVER)" in env_named.stderr
    unknown = fresh("--context", "nope", "get", "nodes")
    assert unknown.returncode == 1
    assert 'context "nope" is not in' in unknown.stderr and "dead, live" in unknown.stderr


def test_unreachable_server_says_where_and_what_to_check(fresh: Tpctl) -> None:
    result = fresh("get", "nodes", "--server", "127.0.0.1:1")
    assert result.returncode == 1
    assert result.stdout == ""
    message = result.stderr
    assert message.startswith("error: cannot reach the tokenplane server at 127.0.0.1:1")
    assert "Check that tokenplane-server is running" in message
    assert "TOKENPLANE_SERVER" in message and "Traceback" not in message


def test_bad_config_file_is_named(fresh: Tpctl, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("contexts:\n- name: x\n  server: h:1\n  colour: red\n")
    result = fresh("get", "nodes")
    assert result.returncode == 1
    assert str(tmp_path / "config.yaml") in result.stderr and "contexts.0.colour" in result.stderr


def test_version(tpctl: Tpctl, fresh: Tpctl) -> None:
    lines = tpctl.ok("version").splitlines()
    assert lines[0].startswith("Client Version: ")
    assert lines[1].startswith("Server Version: ")
    data = json.loads(tpctl.ok("version", "-o", "json"))
    assert set(data) == {"clientVersion", "serverVersion"}
    assert fresh.ok("version", "--client").strip() == lines[0]
    offline = fresh("version", "--server", "127.0.0.1:1")
    assert offline.returncode == 1
    assert offline.stdout.startswith("Client Version: ") and "cannot reach" in offline.stderr
    assert tpctl.ok("--version").startswith("tpctl ")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A second server that takes only bearer tokens."""
    root = tmp_path_factory.mktemp("secured")
    tokens = root / "tokens.yaml"
    tokens.write_text(
        yaml.safe_dump(
            [
                {"name": "vera", "token": VIEWER_TOKEN, "role": "viewer"},
                {"name": "ada", "token": ADMIN_TOKEN, "role": "admin"},
            ]
        )
    )
    server = ServerProcess(root / "state", "--api-tokens-file", str(tokens))
    yield server
    server.stop()


def test_tokens_from_flag_environment_and_context(
    fresh: Tpctl, secured: ServerProcess, tmp_path: Path
) -> None:
    fresh.ok("config", "set-context", "secured", "--server", secured.address)
    anonymous = fresh("get", "nodes")
    assert anonymous.returncode == 1
    assert anonymous.stderr.startswith("Error from server (Unauthorized): missing bearer token")
    assert "TOKENPLANE_TOKEN" in anonymous.stderr and "--token-file" in anonymous.stderr
    wrong = fresh("get", "nodes", "--token", "not-a-token-at-all")
    assert wrong.returncode == 1 and "unknown bearer token" in wrong.stderr
    assert fresh("get", "nodes", env={"TOKENPLANE_TOKEN": VIEWER_TOKEN}).returncode == 0
    manifest = deployment_manifest("cf-secured")
    forbidden = fresh("apply", "-f", "-", input=manifest, env={"TOKENPLANE_TOKEN": VIEWER_TOKEN})
    assert forbidden.returncode == 1
    assert "Error from server (Forbidden)" in forbidden.stderr and "vera" in forbidden.stderr
    token_file = tmp_path / "admin.token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    fresh.ok("config", "set-context", "secured", "--token-file", str(token_file))
    assert fresh.ok("apply", "-f", "-", input=manifest).strip() == (
        "modeldeployment/cf-secured created"
    )
    assert fresh("version").returncode == 0
    token_file.unlink()
    unreadable = fresh("get", "nodes")
    assert unreadable.returncode == 1 and "cannot read tokenFile" in unreadable.stderr


def test_config_writes_are_atomic_and_owner_only(fresh: Tpctl, tmp_path: Path) -> None:
    """A write replaces the file whole (a rename), so a reader never sees half of it, and
    leaves no temporary file behind; tokens stay readable by their owner only."""
    config = tmp_path / "config.yaml"
    fresh.ok(
        "config",
        "set-context",
        "prod",
        "--server",
        "cp.example.org:7070",
        "--token",
        "secret-token",
        "--use",
    )
    before = config.stat().st_ino
    fresh.ok("config", "set-context", "staging", "--server", "cp2.example.org:7070")
    assert config.stat().st_ino != before  # a new file renamed over the old one
    assert config.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".config.yaml")] == []
    names = [c["name"] for c in yaml.safe_load(config.read_text())["contexts"]]
    assert names == ["prod", "staging"]


def test_context_names_complete(fresh: Tpctl) -> None:
    fresh.ok("config", "set-context", "prod-eu", "--server", "cp.example.org:7070")
    fresh.ok("config", "set-context", "prod-us", "--server", "cp2.example.org:7070")
    fresh.ok("config", "set-context", "staging", "--server", "cp3.example.org:7070")
    for words in (["tpctl", "--context", "pro"], ["tpctl", "config", "use-context", "pro"]):
        out = fresh.ok(
            env={
                "_TPCTL_COMPLETE": "bash_complete",
                "COMP_WORDS": " ".join(words),
                "COMP_CWORD": str(len(words) - 1),
            }
        )
        assert [line.split(",", 1)[1] for line in out.splitlines()] == ["prod-eu", "prod-us"]

"""tpctl and files it cannot take: a clear error naming the file, the document and the
field or line, exit 1, and never a traceback; and the server's limits shown as such."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.cli.client import FleetClient
from controlplane.cli.config import Target
from controlplane.cli.errors import CliError
from controlplane.cli.listing import changes_between
from controlplane.resources import load_manifests
from tests.cli.conftest import TPCTL
from tests.support.processes import ServerProcess

DEPLOYMENT = """apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {{name: {name}}}
spec:
  model: {{name: chat, runtime: fixture}}
  replicas: 1
  resources: {{gpus: 1, gpuModel: L4, powerKw: 0.3}}
  demand: {demand}
"""
NODE_WITH_INF = """apiVersion: tokenplane.io/v1
kind: Node
metadata: {name: n1}
spec:
  tier: edge
  location: {lat: 1, lon: 2}
  power: {budgetKw: .inf}
"""


def tpctl(*args: str, server: str = "127.0.0.1:1") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENPLANE_", "TPCTL_"))}
    return subprocess.run(
        [TPCTL, "--server", server, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "TPCTL_CONFIG": "/nonexistent/tpctl-config.yaml", "NO_COLOR": "1"},
    )


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        (
            "deep.yaml",
            DEPLOYMENT.format(name="deep", demand="[{lat: 1, lon: 2}]").replace(
                "model: {name: chat", "model: {name: " + "[" * 500 + "]" * 500 + ", runtime"
            ),
            "deep.yaml (document 1): line 5, column",
        ),
        ("inf.yaml", NODE_WITH_INF, "inf.yaml (document 1): spec.power.budgetKw: "),
        (
            "surrogate.yaml",
            DEPLOYMENT.format(name="s", demand='[{region: "\\ud800"}]'),
            "surrogate.yaml (document 1): spec.demand[0].region: not valid Unicode",
        ),
        (
            "trailing.json",
            '{"apiVersion": "tokenplane.io/v1", "kind": "ModelDeployment",'
            ' "metadata": {"name": "a",}}',
            "trailing.json: invalid JSON: line 1, column 88",
        ),
        ("nan.json", '{"apiVersion": "tokenplane.io/v1", "x": NaN}', "nan.json: invalid JSON: "),
    ],
)
def test_a_bad_file_is_refused_naming_where_without_a_traceback(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(text, errors="surrogatepass")
    result = tpctl("apply", "-f", str(path))
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert says in result.stderr, result.stderr
    assert "cannot reach" not in result.stderr  # refused before anything is sent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("limits") / "server")
    yield proc
    proc.stop()


def test_an_object_over_the_servers_limit_is_shown_as_resource_exhausted(
    server: ServerProcess,
) -> None:
    """tpctl's own client, as `apply` uses it, against the real server. (tpctl apply itself
    stops sooner: its last-applied annotation, as kubectl's, is at most 256 KiB.)"""
    points = ", ".join(f"{{region: {chr(97 + i) * 400_000}}}" for i in range(3))
    (huge,) = load_manifests(DEPLOYMENT.format(name="huge", demand=f"[{points}]"))
    target = Target(server=server.address, origin="--server", context=None, token=None, tls=False)
    with pytest.raises(CliError) as caught:
        FleetClient(target, timeout_s=30).apply(huge)
    message = caught.value.format_message()
    assert message.startswith("Error from server (ResourceExhausted): "), message
    assert 'ModelDeployment "huge"' in message
    assert "the largest field is spec.demand" in message
    assert len(message) < 600  # not the 1.2 MB it refused


def test_a_watcher_whose_history_was_compacted_sees_what_changed_in_between() -> None:
    a1, b1, c1 = load_manifests(
        "".join("---\n" + DEPLOYMENT.format(name=n, demand="[{lat: 1, lon: 2}]") for n in "abc")
    )
    a2 = a1.model_copy(deep=True)
    for resource, version in ((a1, "5"), (b1, "6"), (c1, "7"), (a2, "9")):
        resource.metadata.resource_version = version
    before = {"a": a1, "b": b1, "c": c1}
    after = {
        "a": a2,
        "c": c1,
        "d": b1.model_copy(update={"metadata": b1.metadata.model_copy(update={"name": "d"})}),
    }
    changes = [(change, r.name) for change, r in changes_between(before, after)]
    assert changes == [("MODIFIED", "a"), ("ADDED", "d"), ("DELETED", "b")]

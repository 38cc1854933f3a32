"""What the chart renders, the real commands accept, and the server starts from it.

Each install scenario is rendered with the real Helm binary; every container that
runs `tokenplane-server`, `tokenplane-agent` or `tpctl` has its args (with `$(VAR)`
expanded as the kubelet does) parsed by that command's own click parser, and the
server's configuration built and validated as `tokenplane-server` does at start-up.
Then the server is started with the rendered args, on loopback: listen addresses move
to free loopback ports, the mounted files to a temporary root (real certificates from a
throwaway CA, a real etcd where the chart points at one), and placement runs inline
instead of starting a local Ray.
"""

from __future__ import annotations

import shutil
import time
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path

import click
import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from controlplane.server.main import server_config
from tests.helm.conftest import NAMESPACE, Manifests
from tests.helm.rendered import COMMANDS, FIELD_REFS, Container, containers
from tests.support.etcd import EtcdPKI, free_port, make_pki, running_etcd
from tests.support.processes import BIN, Process
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc

MOUNTED = ("/etc/tokenplane/", "/var/lib/tokenplane", "/tmp/tokenplane")
API_TOKEN = "rendered-args-admin-token"


def relocate(args: list[str], root: Path) -> list[str]:
    """Mounted paths moved under `root`, where each file exists (made empty if new)."""

    def move(value: str) -> str:
        if value.startswith("sqlite://"):
            return "sqlite://" + move(value.removeprefix("sqlite://"))
        if not value.startswith(MOUNTED):
            return value
        path = root / value.lstrip("/")
        if value.startswith("/etc/"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)

    out = []
    for a in args:
        flag, eq, value = a.partition("=")
        out.append(f"{flag}={move(value)}" if eq and flag.startswith("--") else move(a))
    return out


def parse(command: str, args: list[str]) -> click.Context:
    """Runs the command's real option parser (subcommands included), as at start-up."""
    cmd = COMMANDS[command]
    ctx = cmd.make_context(command, list(args))
    while isinstance(cmd, click.Group):
        with warnings.catch_warnings():  # click 8.2 deprecates protected_args, 9.0 folds it
            warnings.simplefilter("ignore", DeprecationWarning)
            remaining = [*ctx.protected_args, *ctx.args]
        if not remaining:
            break
        name, sub, rest = cmd.resolve_command(ctx, remaining)
        assert sub is not None and name is not None
        cmd, ctx = sub, sub.make_context(name, rest, parent=ctx)
    return ctx


def check_parses(manifests: Manifests, root: Path) -> list[str]:
    seen = []
    for c in containers(manifests):
        ctx = parse(c.command, relocate(c.args, root))
        if c.command == "tokenplane-server":
            params = dict(ctx.params)
            params.pop("log_level"), params.pop("log_format")
            server_config(params.pop("store"), params)
        seen.append(f"{c.workload}/{c.name}")
    return seen


def test_every_rendered_command_line_is_accepted(render, ci_values, tmp_path: Path) -> None:
    seen = check_parses(render(ci_values), tmp_path)
    assert seen, "no tokenplane container rendered"


def test_default_values_command_lines_are_accepted(render, tmp_path: Path) -> None:
    seen = check_parses(render(), tmp_path)
    assert any(s.startswith("Deployment/") for s in seen)


def test_the_leader_label_flag_reaches_the_config(render, ci_dir: Path, tmp_path: Path) -> None:
    """The flag that was once rejected now configures the pod the leader labels."""
    manifests = render(ci_dir / "values-ha-bundled-etcd.yaml")
    (server,) = [c for c in containers(manifests) if c.command == "tokenplane-server"]
    params = dict(parse(server.command, relocate(server.args, tmp_path)).params)
    params.pop("log_level"), params.pop("log_format")
    config = server_config(params.pop("store"), params)
    assert config.leader_label_pod == f"{NAMESPACE}/{FIELD_REFS['metadata.name']}"
    assert config.health_listen == "0.0.0.0:7071"


# --- starting the server with the rendered args ---------------------------------------


def install_files(root: Path, pki: EtcdPKI) -> None:
    """What the chart's Secrets would mount: certificates, the tokens."""
    files = {
        "etc/tokenplane/tls/tls.crt": pki.server_cert,
        "etc/tokenplane/tls/tls.key": pki.server_key,
        "etc/tokenplane/tls/ca.crt": pki.ca_file,
        "etc/tokenplane/etcd/ca.crt": pki.ca_file,
        "etc/tokenplane/etcd/tls.crt": pki.client_cert,
        "etc/tokenplane/etcd/tls.key": pki.client_key,
    }
    for rel, source in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / rel)
    (root / "etc/tokenplane/bootstrap-token").mkdir(parents=True, exist_ok=True)
    (root / "etc/tokenplane/bootstrap-token/token").write_text("rendered-args-bootstrap\n")
    (root / "etc/tokenplane/signing-key").mkdir(parents=True, exist_ok=True)
    (root / "etc/tokenplane/signing-key/key").write_text("rendered-args-signing-key-of-32-bytes\n")
    (root / "etc/tokenplane/api-tokens").mkdir(parents=True, exist_ok=True)
    (root / "etc/tokenplane/api-tokens/tokens.yaml").write_text(
        yaml.safe_dump([{"name": "ops", "token": API_TOKEN, "role": "admin"}])
    )


def on_loopback(args: list[str], store: str | None) -> tuple[list[str], dict[str, int]]:
    """0.0.0.0:PORT listeners moved to free loopback ports; the store pointed at `store`."""
    ports: dict[str, int] = {}
    out = []
    for a in args:
        flag, _, value = a.partition("=")
        if value.startswith("0.0.0.0:"):
            ports[flag] = free_port()
            a = f"{flag}=127.0.0.1:{ports[flag]}"
        elif flag == "--store" and store is not None:
            a = f"--store={store}"
        out.append(a)
    return [*out, "--scheduler=inline"], ports


SCENARIOS = ["embedded", "external-etcd-tls", "ha-bundled-etcd", "insecure-readiness"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_server_starts_with_the_rendered_args(
    render, ci_dir: Path, tmp_path: Path, scenario: str
) -> None:
    manifests = render(ci_dir / f"values-{scenario}.yaml")
    (server,) = [c for c in containers(manifests) if c.command == "tokenplane-server"]
    pki = make_pki(tmp_path / "pki")
    root = tmp_path / "root"
    install_files(root, pki)
    args = relocate(server.args, root)
    store = next(a.split("=", 1)[1] for a in args if a.startswith("--store="))
    agents = [c for c in containers(manifests) if c.command == "tokenplane-agent"]
    node_yaml = next(
        (d["data"]["node.yaml"] for d in manifests.kind("ConfigMap") if "node.yaml" in d["data"]),
        "",
    )
    # An agent can run here only with the process driver (kubernetes needs an API server).
    agent = agents[0] if agents and "driver: process" in node_yaml else None
    if agent is not None:
        (root / "etc/tokenplane/node.yaml").write_text(node_yaml)
    if store.startswith("etcd"):
        with running_etcd(tmp_path / "etcd", tls=pki if store.startswith("etcds") else None) as e:
            run_and_check(args, e.url, server, tmp_path, pki, agent)
    else:
        run_and_check(args, None, server, tmp_path, pki, agent)


def run_and_check(
    args: list[str],
    store: str | None,
    server: Container,
    tmp_path: Path,
    pki: EtcdPKI,
    agent: Container | None,
) -> None:
    args, ports = on_loopback(args, store)
    process = Process([str(BIN / server.command), *args], log_path=tmp_path / "server.log")
    try:
        process.wait_for_output(r"listening on")
        health = f"127.0.0.1:{ports['--health-listen']}"
        with grpc.insecure_channel(health) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            wait_for(
                lambda: (
                    stub.Check(
                        health_pb2.HealthCheckRequest(service="tokenplane.v1.FleetService"),
                        timeout=2,
                    ).status
                    == health_pb2.HealthCheckResponse.SERVING
                ),
                process,
            )
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{ports['--metrics-listen']}/metrics", timeout=5
        ).read()
        assert b"tokenplane_" in metrics
        listen = f"127.0.0.1:{ports['--listen']}"
        tls = any(a.startswith("--tls-cert-file=") for a in args)
        channel = (
            grpc.secure_channel(
                listen, grpc.ssl_channel_credentials(root_certificates=pki.ca_file.read_bytes())
            )
            if tls
            else grpc.insecure_channel(listen)
        )
        with channel:
            reply = fleet_pb2_grpc.FleetServiceStub(channel).List(
                fleet_pb2.ListRequest(kind="Node"),
                metadata=[("authorization", f"Bearer {API_TOKEN}")],
                timeout=10,
            )
            assert list(reply.items) == []
            if agent is not None:
                join_with_rendered_args(agent, channel, listen, tmp_path)
    finally:
        process.stop()
    assert process.proc.returncode == 0, process.output()[-3000:]
    assert API_TOKEN not in process.output()


def join_with_rendered_args(
    agent: Container, channel: grpc.Channel, server: str, tmp_path: Path
) -> None:
    """The rendered agent joins the started server; its node turns Ready; /healthz is 200."""
    args, ports = on_loopback(relocate(agent.args, tmp_path / "root"), None)
    args = [f"--server={server}" if a.startswith("--server=") else a for a in args]
    args.remove("--scheduler=inline")
    process = Process(
        [str(BIN / agent.command), *args],
        log_path=tmp_path / "agent.log",
        env={"TOKENPLANE_NODE_NAME": FIELD_REFS["spec.nodeName"], "HOME": str(tmp_path)},
    )
    stub = fleet_pb2_grpc.FleetServiceStub(channel)

    def ready() -> bool:
        nodes = stub.List(
            fleet_pb2.ListRequest(kind="Node"),
            metadata=[("authorization", f"Bearer {API_TOKEN}")],
            timeout=5,
        ).items
        return any(
            n.node.metadata.name == FIELD_REFS["spec.nodeName"]
            and any(c.type == "Ready" and c.status == "True" for c in n.node.status.conditions)
            for n in nodes
        )

    try:
        wait_for(ready, process)
        health = f"http://127.0.0.1:{ports['--metrics-listen']}/healthz"
        assert urllib.request.urlopen(health, timeout=5).status == 200
    finally:
        process.stop()
    assert "rendered-args-bootstrap" not in process.output()


def wait_for(condition: Callable[[], bool], process: Process, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except grpc.RpcError:
            pass
        assert process.proc.poll() is None, process.output()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"not SERVING in {timeout_s}s:\n{process.output()[-3000:]}")


def test_the_node_name_fills_in_what_the_daemonset_config_leaves_out(tmp_path: Path) -> None:
    """The chart's node.yaml has no metadata.name: TOKENPLANE_NODE_NAME gives it, and a
    file naming another node is refused with both names."""
    from agents.config import ConfigError
    from agents.main import _load_named

    config = tmp_path / "node.yaml"
    config.write_text(
        "apiVersion: tokenplane.io/v1\nkind: Node\nmetadata: {labels: {}}\n"
        "spec: {tier: edge, location: {lat: 52.4, lon: 4.9}, power: {budgetKw: 12}}\n"
        "agent:\n  energy: {source: static, carbonGPerKwh: 300}\n"
        "  runtime: {driver: process, templates: {vllm: {command: 'vllm serve {artifact}'}}}\n"
    )
    assert _load_named(config, "gpu-node-1").metadata.name == "gpu-node-1"
    config.write_text(config.read_text().replace("{labels: {}}", "{name: other}"))
    with pytest.raises(ConfigError, match=r"'other' but --node-name .* 'gpu-node-1'"):
        _load_named(config, "gpu-node-1")

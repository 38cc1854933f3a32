"""Join tokens, secrets at rest, authentication and the audit log, against real processes.

A real `tokenplane-server` with API tokens and an audit log, `tpctl` typed as a
user would, hollow agents, and the store's SQLite file read byte by byte as
someone who copied it would.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from subprocess import CompletedProcess

import grpc
import pytest
import yaml

from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from controlplane.store import open_store
from tests.security.support import connect_status, join, join_on_stream, saved_token, wait_ready
from tests.security.support import tpctl as run_tpctl
from tests.support.processes import HollowFleet, ServerProcess, write_fleet
from tests.support.waiting import wait_until
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc, resources_pb2

ADMIN = "admin-token-for-the-security-tests"
VIEWER = "viewer-token-for-the-security-tests"
DEPLOYMENT = """apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: chat-model, runtime: vllm}
  replicas: 1
  resources: {gpus: 1, gpuModel: L4, powerKw: 0.3}
  demand: [{lat: 48.1, lon: 11.6}]
"""


def _api_tokens(path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            [
                {"name": "ops", "token": ADMIN, "role": "admin"},
                {"name": "dashboards", "token": VIEWER, "role": "viewer"},
            ]
        )
    )
    return path


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path / "cp",
        "--api-tokens-file",
        str(_api_tokens(tmp_path / "tokens.yaml")),
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
    )
    yield proc
    proc.stop()


def tpctl(server: ServerProcess, *args: str, token: str = ADMIN) -> CompletedProcess[str]:
    return run_tpctl(server, *args, token=token)


def _as(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _store_bytes(state_dir: Path) -> bytes:
    """Everything SQLite keeps of the store: the database, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in sorted(state_dir.glob("tokenplane.db*")))


def test_join_tokens_are_limited_shown_once_and_kept_as_hashes(
    secured: ServerProcess,
) -> None:
    created = tpctl(
        secured,
        "create",
        "join-token",
        "--ttl",
        "1h",
        "--usages",
        "1",
        "--name-pattern",
        "site-a-.*",
        "--labels",
        "pool=a",
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    match = re.fullmatch(r"([a-z0-9]{6})\.([a-z0-9]{16})", token)
    assert match, created.stdout
    token_id, secret = match.groups()
    assert "shown only now" in created.stderr

    with grpc.insecure_channel(secured.address) as channel:
        with pytest.raises(grpc.RpcError) as pattern:
            join(channel, "other-1", token)
        assert pattern.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "'site-a-.*'" in pattern.value.details()

        join(channel, "site-a-1", token)
        node = fleet_pb2_grpc.FleetServiceStub(channel).Get(
            fleet_pb2.GetRequest(kind="Node", name="site-a-1"), metadata=_as(VIEWER)
        )
        assert node.resource.node.metadata.labels["pool"] == "a"

        with pytest.raises(grpc.RpcError) as used_up:
            join(channel, "site-a-2", token)
        assert used_up.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "used up" in used_up.value.details()

    listed = tpctl(secured, "get", "join-tokens")
    assert listed.returncode == 0, listed.stderr
    assert token_id in listed.stdout and "1/1" in listed.stdout and "site-a-.*" in listed.stdout
    as_json = tpctl(secured, "get", "join-tokens", "-o", "json")
    assert json.loads(as_json.stdout)["items"][0]["id"] == token_id
    assert secret not in listed.stdout + as_json.stdout
    assert secret.encode() not in _store_bytes(secured.state_dir)

    refused = tpctl(secured, "get", "join-tokens", token=VIEWER)
    assert refused.returncode != 0 and "needs admin" in refused.stderr

    deleted = tpctl(secured, "delete", "join-token", token_id)
    assert deleted.returncode == 0 and f"jointoken/{token_id} deleted" in deleted.stdout
    with grpc.insecure_channel(secured.address) as channel:
        with pytest.raises(grpc.RpcError) as gone:
            join(channel, "site-a-3", token)
        assert gone.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_nothing_secret_is_readable_in_the_store(tmp_path: Path) -> None:
    state = tmp_path / "cp"
    state.mkdir()
    old_key = "plaintext-node-token-key-an-old-version-kept"

    async def seed() -> None:
        store = open_store(f"sqlite:///{state}/tokenplane.db")
        await store.put("/tokenplane/secrets/node-token-key", old_key.encode())
        await store.close()

    asyncio.run(seed())
    server = ServerProcess(state, "--api-tokens-file", str(_api_tokens(tmp_path / "tokens.yaml")))
    tokens = tmp_path / "node-tokens.json"
    agents = HollowFleet(
        write_fleet(tmp_path / "fleet.yaml", 2),
        server.address,
        server.token_file,
        "--node-tokens-file",
        str(tokens),
    )
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            wait_ready(stub, "node-0", "node-1", metadata=_as(VIEWER))
        join_token = tpctl(server, "create", "join-token").stdout.strip()
        assert join_token
        wait_until(lambda: saved_token(tokens, "node-1"), 10, "the node tokens saved")
        node_tokens = [saved_token(tokens, "node-0"), saved_token(tokens, "node-1")]
        secrets = {
            "the bootstrap token": server.token_file.read_text().strip(),
            "the signing key": (state / "node-signing-key").read_text().strip(),
            "the join token's secret": join_token.split(".")[1],
            "an API token": ADMIN,
            **{f"node token {i}": t for i, t in enumerate(node_tokens) if t},
            "a node key": saved_token(tokens, "node-0", "key") or "missing",
        }
    finally:
        agents.stop()
        server.stop()
    stored = _store_bytes(state)
    for what, secret in secrets.items():
        assert secret.encode() not in stored, f"{what} is in the store"
    assert _no_secret_keys(state), "the plaintext an earlier version kept is still there"
    assert "deleted 1 plaintext secrets" in server.output()
    for private in ("bootstrap-token", "node-signing-key"):
        assert (state / private).stat().st_mode & 0o077 == 0, f"{private} is not 0600"


def _no_secret_keys(state: Path) -> bool:
    async def keys() -> list[str]:
        store = open_store(f"sqlite:///{state}/tokenplane.db")
        kvs, _ = await store.list("/tokenplane/secrets/")
        await store.close()
        return [kv.key for kv in kvs]

    return asyncio.run(keys()) == []


def test_callers_are_authenticated_before_validation_and_audited(
    secured: ServerProcess, tmp_path: Path
) -> None:
    broken = resources_pb2.Resource(
        model_deployment=resources_pb2.ModelDeployment(
            api_version="tokenplane.io/v1",
            kind="ModelDeployment",
            metadata=resources_pb2.ObjectMeta(name="-not a name-"),
        )
    )
    with grpc.insecure_channel(secured.address) as channel:
        fleet = fleet_pb2_grpc.FleetServiceStub(channel)
        for metadata, code in (
            ((), grpc.StatusCode.UNAUTHENTICATED),
            (_as("a-guess"), grpc.StatusCode.UNAUTHENTICATED),
            (_as(VIEWER), grpc.StatusCode.PERMISSION_DENIED),
            (_as(ADMIN), grpc.StatusCode.INVALID_ARGUMENT),
        ):
            with pytest.raises(grpc.RpcError) as err:
                fleet.Apply(fleet_pb2.ApplyRequest(resource=broken), metadata=metadata)
            assert err.value.code() == code, err.value.details()
            if code is not grpc.StatusCode.INVALID_ARGUMENT:
                assert "name" not in err.value.details()  # nothing about the manifest
        with pytest.raises(grpc.RpcError) as err:
            fleet.Delete(fleet_pb2.DeleteRequest(kind="Nonsense", name="x"))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

        (deployment,) = load_manifests(DEPLOYMENT)
        fleet.Apply(fleet_pb2.ApplyRequest(resource=to_resource(deployment)), metadata=_as(ADMIN))
    deleted = tpctl(secured, "delete", "deployment", "chat")
    assert deleted.returncode == 0, deleted.stderr

    text = (tmp_path / "audit.jsonl").read_text()
    assert ADMIN not in text and VIEWER not in text and "a-guess" not in text
    records = [json.loads(line) for line in text.splitlines()]
    seen = [(r["user"], r["verb"], r["kind"], r["name"], r["code"]) for r in records]
    assert seen == [
        ("unauthenticated", "Apply", "ModelDeployment", "-not a name-", "UNAUTHENTICATED"),
        ("unauthenticated", "Apply", "ModelDeployment", "-not a name-", "UNAUTHENTICATED"),
        ("dashboards (viewer)", "Apply", "ModelDeployment", "-not a name-", "PERMISSION_DENIED"),
        ("ops (admin)", "Apply", "ModelDeployment", "-not a name-", "INVALID_ARGUMENT"),
        ("unauthenticated", "Delete", "Nonsense", "x", "UNAUTHENTICATED"),
        ("ops (admin)", "Apply", "ModelDeployment", "chat", "OK"),
        ("ops (admin)", "Delete", "ModelDeployment", "chat", "OK"),
    ]
    for record in records:
        assert datetime.fromisoformat(record["time"]).tzinfo is not None  # RFC 3339, UTC
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o077 == 0


def test_a_join_on_the_stream_is_checked_limited_and_audited_as_the_join_call(
    secured: ServerProcess, tmp_path: Path
) -> None:
    created = tpctl(secured, "create", "join-token", "--usages", "1")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    token_id = token.partition(".")[0]
    with grpc.insecure_channel(secured.address) as channel:
        with pytest.raises(grpc.RpcError) as guessed:
            join_on_stream(channel, "edge-s", "abcdef.0123456789abcdef")
        assert guessed.value.code() == grpc.StatusCode.UNAUTHENTICATED
        credential = join_on_stream(channel, "edge-s", token)
        assert credential.node_token and credential.expiration_timestamp
        accepted = connect_status(channel, credential.node_token)
        assert accepted[0] == grpc.StatusCode.INVALID_ARGUMENT, accepted  # in: then no Hello
        with pytest.raises(grpc.RpcError) as used_up:  # the token's one use is spent
            join_on_stream(channel, "edge-t", token)
        assert used_up.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "used up" in used_up.value.details()
        with pytest.raises(grpc.RpcError) as call:  # the Join call: the same answer
            join(channel, "edge-u", token)
        assert (call.value.code(), call.value.details()) == (
            used_up.value.code(),
            used_up.value.details(),
        )

    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    joins = [(r["user"], r["kind"], r["name"], r["code"]) for r in records if r["verb"] == "Join"]
    assert joins == [
        ("unauthenticated", "Node", "edge-s", "UNAUTHENTICATED"),
        (f"join token {token_id}", "Node", "edge-s", "OK"),
        ("unauthenticated", "Node", "edge-t", "UNAUTHENTICATED"),
        ("unauthenticated", "Node", "edge-u", "UNAUTHENTICATED"),
    ]
    assert token.partition(".")[2] not in (tmp_path / "audit.jsonl").read_text()


def test_serving_unauthenticated_off_loopback_takes_its_own_loud_flag(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as plain:
        ServerProcess(tmp_path / "a", "--allow-insecure", listen="0.0.0.0:0")
    assert "without --api-tokens-file every caller is admin" in str(plain.value)
    assert "--insecure-no-auth-i-know-what-i-am-doing" in str(plain.value)

    no_key = ("--allow-insecure", "--insecure-no-auth-i-know-what-i-am-doing")
    with pytest.raises(RuntimeError) as keyless:
        ServerProcess(tmp_path / "b", *no_key, listen="0.0.0.0:0")
    assert "--signing-key-file" in str(keyless.value)

    key = tmp_path / "signing-key"
    key.write_text("a-node-token-signing-key-of-32-bytes-or-more\n")
    server = ServerProcess(
        tmp_path / "c", *no_key, "--signing-key-file", str(key), listen="0.0.0.0:0"
    )
    try:
        assert re.search(r"WARNING.*WITHOUT AUTHENTICATION", server.output())
    finally:
        server.stop()

"""Helpers for the security tests: a node's manifest, Join and Connect as a client would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc

from controlplane.resources import Node, load_manifests
from controlplane.resources.codec import to_message
from tests.support.processes import ServerProcess
from tests.support.waiting import wait_until
from tokenplane.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc, resources_pb2


def node_message(name: str, *, gpus: int = 4, country: str = "DE") -> resources_pb2.Node:
    (node,) = load_manifests(
        f"""apiVersion: tokenplane.io/v1
kind: Node
metadata: {{name: {name}}}
spec:
  tier: edge
  location: {{lat: 48.1, lon: 11.6, region: eu-central, country: {country}}}
  capacity:
    gpus: [{{model: L4, memoryGb: 24, count: {gpus}}}]
  power: {{budgetKw: 20}}
"""
    )
    assert isinstance(node, Node)
    return to_message(node)


def join(
    channel: grpc.Channel,
    name: str,
    token: str,
    *,
    node_token: str | None = None,
    node_key: str = "",
    **spec: object,
) -> agent_pb2.JoinResponse:
    metadata = (("authorization", f"Bearer {node_token}"),) if node_token else ()
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    node = node_message(name, **spec)  # type: ignore[arg-type]
    request = agent_pb2.JoinRequest(bootstrap_token=token, node=node, node_key=node_key)
    response: agent_pb2.JoinResponse = stub.Join(request, metadata=metadata, timeout=5)
    return response


def join_on_stream(
    channel: grpc.Channel, name: str, token: str, *, node_key: str = ""
) -> agent_pb2.NodeCredential:
    """Joins as the agent does, with a Join in its stream's Hello; returns the credential
    of the first Settings. Nothing follows the Hello: the stream then ends."""
    join_request = agent_pb2.JoinRequest(
        bootstrap_token=token, node=node_message(name), node_key=node_key
    )
    hello = agent_pb2.AgentMessage(hello=agent_pb2.Hello(node_name=name, join=join_request))
    replies = agent_pb2_grpc.AgentServiceStub(channel).Connect(iter([hello]), timeout=10)
    first: agent_pb2.ControlMessage = next(replies)
    replies.cancel()
    return first.settings.credential


def connect_status(channel: grpc.Channel, node_token: str) -> tuple[grpc.StatusCode, str]:
    """Opens a Connect with `node_token` and closes it without a Hello: UNAUTHENTICATED or
    PERMISSION_DENIED if the token is refused, INVALID_ARGUMENT (no Hello) if accepted."""
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    call = stub.Connect(iter(()), metadata=(("authorization", f"Bearer {node_token}"),), timeout=5)
    try:
        for _ in call:
            pass
    except grpc.RpcError as e:
        return e.code(), e.details()  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, ""


Metadata = tuple[tuple[str, str], ...]


def is_ready(stub: fleet_pb2_grpc.FleetServiceStub, name: str, metadata: Metadata = ()) -> bool:
    request = fleet_pb2.GetRequest(kind="Node", name=name)
    try:
        node = stub.Get(request, timeout=5, metadata=metadata).resource.node
    except grpc.RpcError:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def wait_ready(
    stub: fleet_pb2_grpc.FleetServiceStub,
    *names: str,
    metadata: Metadata = (),
    timeout_s: float = 30,
) -> None:
    wait_until(lambda: all(is_ready(stub, n, metadata) for n in names), timeout_s, f"{names} Ready")


def saved_token(tokens_file: Path, name: str, what: str = "token") -> str | None:
    """The node token (or key) an agent keeps on disk (what a thief with the disk would take)."""
    try:
        token = json.loads(tokens_file.read_text())["nodes"][name].get(what)
    except (OSError, ValueError, KeyError):
        return None
    return str(token) if token else None


def bootstrap_token(server: ServerProcess) -> str:
    return server.token_file.read_text().strip()


def tpctl(server: ServerProcess, *args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    """`tpctl ARGS...` against `server`, as a user types it (a clean environment)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(server.state_dir),
        "TOKENPLANE_SERVER": server.address,
        **({"TOKENPLANE_TOKEN": token} if token else {}),
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "tpctl"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

"""Node identity, tried as an attacker would, against real processes.

A real `tokenplane-server` and a real hollow agent fleet (`tokenplane-agent
--hollow`, keeping its node tokens on disk with --node-tokens-file, as a node
keeps its own); the attacker is this test, holding the bootstrap token, or a
node token taken from that disk. What a user notices is checked: the node's
spec as `tpctl get` shows it, its Ready condition, and the status codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.security.support import (
    bootstrap_token,
    connect_status,
    is_ready,
    join,
    saved_token,
    tpctl,
    wait_ready,
)
from tests.support.etcd import make_client_cert, make_pki
from tests.support.processes import HollowFleet, ServerProcess, write_fleet
from tests.support.waiting import wait_until
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    extra = getattr(request, "param", ())
    proc = ServerProcess(tmp_path / "cp", *extra)
    yield proc
    proc.stop()


@pytest.fixture
def fleet(tmp_path: Path, server: ServerProcess) -> Iterator[Path]:
    """Two hollow nodes, node-0 and node-1, Ready; yields the file holding their tokens."""
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
            wait_ready(fleet_pb2_grpc.FleetServiceStub(channel), "node-0", "node-1")
        wait_until(lambda: saved_token(tokens, "node-1"), 10, "the tokens saved")
        yield tokens
    finally:
        agents.stop()


def test_the_bootstrap_token_cannot_take_over_a_registered_node(
    server: ServerProcess, fleet: Path
) -> None:
    with grpc.insecure_channel(server.address) as channel:
        fleet_api = fleet_pb2_grpc.FleetServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            join(channel, "node-0", bootstrap_token(server), gpus=4096, country="AU")
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "node-0 is already registered" in refused.value.details()
        assert "tpctl approve node node-0" in refused.value.details()

        node = fleet_api.Get(fleet_pb2.GetRequest(kind="Node", name="node-0")).resource.node
        assert [g.count for g in node.spec.capacity.gpus] == [4]
        assert node.spec.location.country == "DE"
        assert is_ready(fleet_api, "node-0")

        # Another node's token does not re-join this one either.
        with pytest.raises(grpc.RpcError) as borrowed:
            join(
                channel,
                "node-0",
                bootstrap_token(server),
                node_token=saved_token(fleet, "node-1"),
                gpus=4096,
            )
        assert borrowed.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # New names still join with it, and the node's own token re-joins its name.
        assert join(channel, "node-9", bootstrap_token(server)).node_token
        own = join(channel, "node-0", "", node_token=saved_token(fleet, "node-0"))
        assert own.node_name == "node-0"

        # A Join retried after its answer was lost proves itself with the node key it
        # first joined with; another key is an impostor's.
        key = "k" * 43
        join(channel, "node-8", bootstrap_token(server), node_key=key)
        assert join(channel, "node-8", bootstrap_token(server), node_key=key).node_token
        with pytest.raises(grpc.RpcError) as guessed:
            join(channel, "node-8", bootstrap_token(server), node_key="g" * 43, gpus=4096)
        assert guessed.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_revoked_or_deleted_node_token_is_refused_at_once(
    server: ServerProcess, fleet: Path, tmp_path: Path
) -> None:
    stolen = saved_token(fleet, "node-0")
    assert stolen is not None
    with grpc.insecure_channel(server.address) as channel:
        fleet_api = fleet_pb2_grpc.FleetServiceStub(channel)
        assert connect_status(channel, stolen)[0] == grpc.StatusCode.INVALID_ARGUMENT  # accepted

        revoked = tpctl(server, "revoke", "node", "node-0")
        assert revoked.returncode == 0 and "node/node-0 revoked" in revoked.stdout
        code, details = connect_status(channel, stolen)
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert "revoked or replaced" in details
        # Its live stream was closed: the node is NotReady, and its agent cannot come back
        # with the bootstrap token (the name is registered) until an operator approves it.
        wait_until(lambda: not is_ready(fleet_api, "node-0"), 10, "node-0 NotReady")
        agent_log = tmp_path / "fleet.agent.log"
        wait_until(
            lambda: "node-0: the credentials of node node-0 were revoked" in agent_log.read_text(),
            10,
            "the agent saying why its stream ended",
        )
        assert not is_ready(fleet_api, "node-0")

        approved = tpctl(server, "approve", "node", "node-0", "--ttl", "10m")
        assert approved.returncode == 0 and "approved to re-join" in approved.stdout
        wait_ready(fleet_api, "node-0")
        assert connect_status(channel, stolen)[0] == grpc.StatusCode.UNAUTHENTICATED

        # Deleting a node voids its token too; its agent joins afresh as a new node.
        stolen_1 = saved_token(fleet, "node-1")
        assert stolen_1 is not None
        fleet_api.Delete(fleet_pb2.DeleteRequest(kind="Node", name="node-1"), timeout=5)
        assert connect_status(channel, stolen_1)[0] == grpc.StatusCode.UNAUTHENTICATED
        wait_ready(fleet_api, "node-1")
        wait_until(lambda: saved_token(fleet, "node-1") != stolen_1, 10, "a new token saved")


@pytest.mark.parametrize("server", [("--node-token-ttl", "16")], indirect=True)
def test_a_rotated_node_token_is_refused_once_the_agent_saved_the_new_one(
    server: ServerProcess, fleet: Path
) -> None:
    """Takes ~10 s: the rotation comes at half the token's life, here 16 s (the least that
    leaves the old token unexpired when the test uses it, on a busy machine)."""
    old = saved_token(fleet, "node-0")
    with grpc.insecure_channel(server.address) as channel:
        fleet_api = fleet_pb2_grpc.FleetServiceStub(channel)
        wait_until(lambda: saved_token(fleet, "node-0") != old, 15, "a rotated token saved")
        new = saved_token(fleet, "node-0")
        assert old is not None and new is not None
        wait_until(
            lambda: connect_status(channel, old)[0] == grpc.StatusCode.UNAUTHENTICATED,
            5,
            "the old token refused",
        )
        assert "revoked or replaced" in connect_status(channel, old)[1], "not merely expired"
        assert connect_status(channel, new)[0] == grpc.StatusCode.INVALID_ARGUMENT  # accepted
        assert is_ready(fleet_api, "node-0"), "rotation kept the stream"
        events = fleet_api.Events(fleet_pb2.EventsRequest(kind="Node", name="node-0"), timeout=5)
        assert [e.event.reason for e in events] == ["NodeReady"]


def test_a_client_certificate_speaks_only_for_the_node_it_names(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    server = ServerProcess(
        tmp_path / "cp",
        "--tls-cert-file",
        str(pki.server_cert),
        "--tls-key-file",
        str(pki.server_key),
        "--tls-client-ca-file",
        str(pki.ca_file),
    )

    def channel_of(node: str) -> grpc.Channel:
        cert, key = make_client_cert(pki, node)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=pki.ca_file.read_bytes(),
            private_key=key.read_bytes(),
            certificate_chain=cert.read_bytes(),
        )
        return grpc.secure_channel(server.address, credentials)

    token = bootstrap_token(server)
    try:
        with channel_of("edge-1") as edge_1, channel_of("edge-2") as edge_2:
            with pytest.raises(grpc.RpcError) as other:
                join(edge_1, "edge-2", token)
            assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "the client certificate names edge-1" in other.value.details()

            node_token = join(edge_1, "edge-1", token).node_token
            assert connect_status(edge_1, node_token)[0] == grpc.StatusCode.INVALID_ARGUMENT
            # Its certificate is the node's own credential: it re-joins its name.
            assert join(edge_1, "edge-1", token).node_name == "edge-1"

            # edge-2's certificate with edge-1's token: refused, on Connect and on Join.
            code, details = connect_status(edge_2, node_token)
            assert code == grpc.StatusCode.PERMISSION_DENIED
            assert "names edge-2" in details
            with pytest.raises(grpc.RpcError) as borrowed:
                join(edge_2, "edge-1", token, node_token=node_token)
            assert borrowed.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        server.stop()

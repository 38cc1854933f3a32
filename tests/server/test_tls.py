"""TLS between agents and the control plane: mutual TLS works, plaintext and strangers don't.

Real processes: `tokenplane-server` with a certificate and a client CA, and a
real `tokenplane-agent --config` holding a client certificate from that CA.
Certificates come from a throwaway CA made with the openssl CLI.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from tests.agents.support import node_yaml
from tests.support.etcd import make_client_cert, make_pki
from tests.support.processes import BIN, Process, ServerProcess
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc

STATIC_ENERGY = """    source: static
    carbonGPerKwh: 300"""


def test_agent_joins_over_mutual_tls_and_plaintext_is_refused(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    node_cert, node_key = make_client_cert(pki, "edge-1")  # a node's certificate names it
    server = ServerProcess(
        tmp_path / "cp",
        "--tls-cert-file",
        str(pki.server_cert),
        "--tls-key-file",
        str(pki.server_key),
        "--tls-client-ca-file",
        str(pki.ca_file),
    )
    config = tmp_path / "edge-1.yaml"
    config.write_text(node_yaml("edge-1", energy=STATIC_ENERGY))
    agent = Process(
        [
            str(BIN / "tokenplane-agent"),
            "--config",
            str(config),
            "--server",
            server.address,
            "--token-file",
            str(server.token_file),
            "--state-dir",
            str(tmp_path / "agent"),
            "--ca-file",
            str(pki.ca_file),
            "--cert-file",
            str(node_cert),
            "--key-file",
            str(node_key),
        ],
        log_path=tmp_path / "agent.log",
    )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_file.read_bytes(),
        private_key=pki.client_key.read_bytes(),
        certificate_chain=pki.client_cert.read_bytes(),
    )
    try:
        with grpc.secure_channel(server.address, credentials) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)
            deadline = time.monotonic() + 30
            ready = False
            while time.monotonic() < deadline and not ready:
                nodes = stub.List(fleet_pb2.ListRequest(kind="Node"), timeout=5).items
                ready = any(
                    c.type == "Ready" and c.status == "True"
                    for n in nodes
                    for c in n.node.status.conditions
                )
                time.sleep(0.2)
            assert ready, agent.output()[-2000:]

        with grpc.insecure_channel(server.address) as plaintext:
            with pytest.raises(grpc.RpcError) as err:
                fleet_pb2_grpc.FleetServiceStub(plaintext).List(
                    fleet_pb2.ListRequest(kind="Node"), timeout=5
                )
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE

        no_client_cert = grpc.ssl_channel_credentials(root_certificates=pki.ca_file.read_bytes())
        with grpc.secure_channel(server.address, no_client_cert) as stranger:
            with pytest.raises(grpc.RpcError) as err:
                fleet_pb2_grpc.FleetServiceStub(stranger).List(
                    fleet_pb2.ListRequest(kind="Node"), timeout=5
                )
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        agent.stop()
        server.stop()
    assert "BEGIN" not in server.output() and node_key.read_text() not in agent.output()


def test_plaintext_beyond_loopback_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as err:
        ServerProcess(tmp_path / "cp", listen="0.0.0.0:0")
    assert "plaintext is only served on loopback" in str(err.value)
    assert "--tls-cert-file" in str(err.value)

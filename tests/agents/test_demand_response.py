"""A grid demand-response signal from a site's feed, end to end: a real agent polls a local
HTTP feed (the site's systems, the edge of the world: a fake), and the real control plane
(`tokenplane-server`) records a Curtailment while the signal lasts and ends it after."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest

from controlplane.resources import Curtailment
from controlplane.resources.codec import from_resource
from tests.agents.support import AgentProcess, node_yaml
from tests.support.processes import ServerProcess
from tests.support.waiting import wait_until
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc


class FakeSiteFeed:
    """The site's energy system: serves whatever document the test sets."""

    def __init__(self) -> None:
        self.document: dict[str, object] = {"carbonGPerKwh": 300, "pricePerKwh": 0.2}
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(feed.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/energy"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed() -> Iterator[FakeSiteFeed]:
    site = FakeSiteFeed()
    yield site
    site.close()


def curtailments(stub: fleet_pb2_grpc.FleetServiceStub) -> list[Curtailment]:
    items = stub.List(fleet_pb2.ListRequest(kind="Curtailment"), timeout=5).items
    return [c for c in map(from_resource, items) if isinstance(c, Curtailment)]


def test_a_feeds_signal_is_recorded_as_a_curtailment_while_it_lasts(
    feed: FakeSiteFeed, tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "server")
    config = tmp_path / "dr-1.yaml"
    energy = f"""    source: http
    url: {feed.url}
    intervalSeconds: 0.5"""
    config.write_text(node_yaml("dr-1", energy=energy))
    agent = AgentProcess(config, server.address, server.token_file.read_text().strip(), tmp_path)
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = fleet_pb2_grpc.FleetServiceStub(channel)

            def energy_source() -> str:
                node = stub.Get(fleet_pb2.GetRequest(kind="Node", name="dr-1"), timeout=5)
                return node.resource.node.status.energy.source

            wait_until(
                lambda: "carbon=http:" in energy_source(),
                30,
                "the feed's figures",
                ignoring=(grpc.RpcError,),  # until the agent has joined
            )
            assert not curtailments(stub), "no signal, no curtailment"
            feed.document = {**feed.document, "curtailToKw": 12.5}

            def active() -> bool:
                found = curtailments(stub)
                return len(found) == 1 and found[0].status.phase == "Active"

            wait_until(active, 20, "a Curtailment from the feed's signal")
            (event,) = curtailments(stub)
            assert event.spec.node_name == "dr-1" and event.spec.budget_kw == 12.5
            assert event.spec.requested_by == "feed:dr-1"
            assert f"curtailTo=http:{feed.url}" in energy_source()
            node = stub.Get(fleet_pb2.GetRequest(kind="Node", name="dr-1"), timeout=5)
            assert node.resource.node.status.energy.curtail_to_kw == 12.5

            feed.document = {k: v for k, v in feed.document.items() if k != "curtailToKw"}
            wait_until(lambda: curtailments(stub)[0].status.phase == "Ended", 20, "the event ends")
            (event,) = curtailments(stub)
            assert event.status.end_time and event.spec.duration_seconds < 60
    finally:
        agent.stop()
        server.stop()

"""A feed's forecast on the heartbeat reaches the node's status and `tpctl describe node`.

A real server process; the agent's side is spoken over real gRPC, one Connect
stream per check, as in test_bad_input.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from controlplane.cli.describe_view import describe_node
from controlplane.resources import Node, load_manifests
from controlplane.resources.codec import from_resource, to_resource
from tests.support.processes import ServerProcess
from tokenplane.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc, resources_pb2

NODE = "forecast-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("forecast") / "server")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as channel:
        yield channel


@pytest.fixture(scope="module")
def node_token(server: ServerProcess, channel: grpc.Channel) -> str:
    node = load_manifests(f"""
apiVersion: tokenplane.io/v1
kind: Node
metadata: {{name: {NODE}}}
spec:
  tier: factory
  location: {{lat: 45.5, lon: -73.6, region: ca-east, country: CA}}
  capacity: {{gpus: [{{model: H100, memoryGb: 80, count: 8}}]}}
  power: {{budgetKw: 500}}
""")[0]
    joined = agent_pb2_grpc.AgentServiceStub(channel).Join(
        agent_pb2.JoinRequest(
            bootstrap_token=server.token_file.read_text().strip(), node=to_resource(node).node
        ),
        timeout=10,
    )
    return joined.node_token


def send(
    channel: grpc.Channel, token: str, beat: agent_pb2.Heartbeat
) -> tuple[grpc.StatusCode, str]:
    """A Hello and one heartbeat on a Connect stream; how the server ended it."""
    messages = [
        agent_pb2.AgentMessage(hello=agent_pb2.Hello(node_name=NODE)),
        agent_pb2.AgentMessage(heartbeat=beat),
    ]
    replies = agent_pb2_grpc.AgentServiceStub(channel).Connect(
        iter(messages), metadata=(("authorization", f"Bearer {token}"),), timeout=10
    )
    try:
        for _ in replies:
            pass
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


def node(channel: grpc.Channel) -> Node:
    got = fleet_pb2_grpc.FleetServiceStub(channel).Get(
        fleet_pb2.GetRequest(kind="Node", name=NODE), timeout=10
    )
    found = from_resource(got.resource)
    assert isinstance(found, Node)
    return found


def point(hour: int, carbon: float, price: float) -> resources_pb2.ForecastPoint:
    return resources_pb2.ForecastPoint(
        hour_offset=hour, carbon_g_per_kwh=carbon, price_per_kwh=price
    )


def test_a_feeds_forecast_is_in_the_nodes_status_and_describe_node_shows_it(
    channel: grpc.Channel, node_token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    beat = agent_pb2.Heartbeat(
        carbon_g_per_kwh=32.0,
        price_per_kwh=0.05,
        energy_source="http",
        forecast=[point(2, 40.0, 0.06), point(1, 35.0, 0.055), point(3, 120.0, 0.09)],
    )
    assert send(channel, node_token, beat)[0] is grpc.StatusCode.OK
    energy = node(channel).status.energy  # type: ignore[union-attr]
    assert energy is not None and energy.forecast_source == "feed"
    assert [(p.hour_offset, p.carbon_g_per_kwh) for p in energy.forecast] == [
        (1, 35.0),
        (2, 40.0),
        (3, 120.0),
    ]
    describe_node(node(channel), [], [])
    out = capsys.readouterr().out
    assert "Forecast:         feed: the node's energy source" in out
    table = out.split("Forecast:")[1].splitlines()[1:4]
    assert table[0].split() == ["HOURS", "AHEAD", "+1", "+2", "+3"]
    assert table[1].split() == ["gCO2/kWh", "35", "40", "120"]
    assert table[2].split() == ["price/kWh", "0.055", "0.060", "0.090"]


def test_a_heartbeat_without_a_forecast_leaves_the_node_without_one(
    channel: grpc.Channel, node_token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert send(channel, node_token, agent_pb2.Heartbeat(carbon_g_per_kwh=30.0))[0] is (
        grpc.StatusCode.OK
    )
    energy = node(channel).status.energy  # type: ignore[union-attr]
    assert energy is not None and energy.forecast == [] and energy.forecast_source == ""
    describe_node(node(channel), [], [])
    assert "Forecast:         <none yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("forecast", "field"),
    [
        ([point(1, float("nan"), 0.1)], "heartbeat.forecast[0].carbonGPerKwh"),
        ([point(h, 100.0, 0.1) for h in range(1, 170)], "heartbeat.forecast: 169 points"),
    ],
)
def test_a_forecast_the_server_cannot_use_is_refused_naming_the_field(
    channel: grpc.Channel, node_token: str, forecast: list[resources_pb2.ForecastPoint], field: str
) -> None:
    code, details = send(channel, node_token, agent_pb2.Heartbeat(forecast=forecast))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in details

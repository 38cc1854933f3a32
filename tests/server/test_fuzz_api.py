"""Hypothesis over the API a stranger can reach: every answer is a status the client caused.

A real `tokenplane-server` on a loopback port gets Apply, Get, List, Watch, Delete,
Join and Connect messages of the right shape with hostile values (huge, negative,
non-finite, empty, control characters, 70 KB strings), and raw bytes that are no
message at all. Whatever comes back, it is never INTERNAL or UNKNOWN (the server's
fault); the server keeps running, logs no traceback, and the objects stored before
the fuzzing are as they were. Examples are bounded (`max_examples`) so that the
whole module runs in well under a minute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tests.support.processes import ServerProcess
from tokenplane.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc, resources_pb2

SERVER_FAULTS = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SEEDS = """
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {name: seed-kept-chat, labels: {team: seed}}
spec:
  model: {name: chat, runtime: fixture}
  replicas: 1
  resources: {gpus: 1, gpuModel: L4, powerKw: 0.3}
  demand: [{lat: 48.14, lon: 11.58}]
---
apiVersion: tokenplane.io/v1
kind: Node
metadata: {name: seed-kept-node, labels: {team: seed}}
spec:
  tier: edge
  location: {lat: 48.1, lon: 11.6, region: eu-central, country: DE}
  capacity: {gpus: [{model: L4, memoryGb: 24, count: 4}]}
  power: {budgetKw: 20}
"""
SEED_NAMES = {"seed-kept-chat", "seed-kept-node"}


# -- hostile values ------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "abc",
            "-1",
            "-5",
            "0",
            str(10**20),
            str(2**63),
            "1e3",
            " 7",
            "\x00",
            "../../etc",
            "a=b,c!=d,e",
            "a in (",
            "Node",
            "ModelDeployment",
            "Replica",
            "\uff2e\uff2f\uff24\uff25",  # NODE, fullwidth
        ]
    ),
    st.integers(min_value=254, max_value=70_000).map(lambda n: "n" * n),
)
NAMES = HOSTILE_TEXT.filter(lambda name: name not in SEED_NAMES)
KINDS = st.one_of(st.sampled_from(["Node", "ModelDeployment", "Replica"]), HOSTILE_TEXT)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
UINT32 = st.integers(min_value=0, max_value=2**32 - 1)
LABELS = st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=70)
GARBAGE = st.one_of(
    st.binary(max_size=300),
    st.just(b"\x0a\x03\xff\xfe\xfd"),  # a string field that is not UTF-8
    st.just(b"\xff" * 64),
)


@st.composite
def deployments(draw: st.DrawFn) -> resources_pb2.Resource:
    message = resources_pb2.Resource()
    deployment = message.model_deployment
    deployment.api_version = draw(st.sampled_from(["tokenplane.io/v1", "", "v2"]))
    deployment.kind = draw(st.sampled_from(["ModelDeployment", "Node", ""]))
    deployment.metadata.name = draw(NAMES)
    deployment.metadata.labels.update(draw(LABELS))
    deployment.metadata.resource_version = draw(HOSTILE_TEXT)
    deployment.spec.model.name = draw(HOSTILE_TEXT)
    deployment.spec.replicas = draw(UINT32)
    deployment.spec.resources.gpus = draw(UINT32)
    deployment.spec.resources.power_kw = draw(FLOATS)
    for lat, lon in draw(st.lists(st.tuples(FLOATS, FLOATS), max_size=3)):
        deployment.spec.demand.add(lat=lat, lon=lon, region=draw(HOSTILE_TEXT))
    return message


@st.composite
def nodes(draw: st.DrawFn) -> resources_pb2.Node:
    node = resources_pb2.Node(api_version="tokenplane.io/v1", kind="Node")
    node.metadata.name = draw(NAMES)
    node.metadata.labels.update(draw(LABELS))
    node.spec.tier = draw(st.sampled_from(["edge", "factory", "cloud", ""]))
    node.spec.location.lat = draw(FLOATS)
    node.spec.location.lon = draw(FLOATS)
    node.spec.location.country = draw(HOSTILE_TEXT)
    node.spec.power.budget_kw = draw(FLOATS)
    for _ in range(draw(st.integers(min_value=0, max_value=20))):
        node.spec.capacity.gpus.add(
            model=draw(HOSTILE_TEXT), memory_gb=draw(FLOATS), count=draw(UINT32)
        )
    return node


@st.composite
def agent_messages(draw: st.DrawFn) -> agent_pb2.AgentMessage:
    kind = draw(st.sampled_from(["heartbeat", "replica_state", "hello", "log_reply"]))
    if kind == "heartbeat":
        beat = agent_pb2.Heartbeat(
            it_draw_kw=draw(FLOATS),
            budget_kw=draw(FLOATS),
            carbon_g_per_kwh=draw(FLOATS),
            price_per_kwh=draw(FLOATS),
            energy_source=draw(HOSTILE_TEXT),
        )
        for _ in range(draw(st.integers(min_value=0, max_value=20))):
            beat.gpus.add(
                model=draw(st.text(max_size=8)),
                memory_gb=draw(FLOATS),
                total=draw(UINT32),
                free=draw(UINT32),
            )
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            beat.rtt_samples.add(target=draw(HOSTILE_TEXT), rtt_ms=draw(FLOATS))
        return agent_pb2.AgentMessage(heartbeat=beat)
    if kind == "replica_state":
        state = agent_pb2.ReplicaState(
            name=draw(HOSTILE_TEXT), phase=draw(HOSTILE_TEXT), message=draw(HOSTILE_TEXT)
        )
        return agent_pb2.AgentMessage(replica_state=state)
    if kind == "hello":
        return agent_pb2.AgentMessage(hello=agent_pb2.Hello(node_name=draw(HOSTILE_TEXT)))
    reply = agent_pb2.LogReply(request_id=draw(st.integers(0, 2**63)), text=draw(HOSTILE_TEXT))
    return agent_pb2.AgentMessage(log_reply=reply)


# -- the server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("fuzz") / "server")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(
        server.address, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    ) as channel:
        yield channel


@pytest.fixture(scope="module")
def fleet(channel: grpc.Channel) -> fleet_pb2_grpc.FleetServiceStub:
    return fleet_pb2_grpc.FleetServiceStub(channel)


@pytest.fixture(scope="module")
def agents(channel: grpc.Channel) -> agent_pb2_grpc.AgentServiceStub:
    return agent_pb2_grpc.AgentServiceStub(channel)


def stored(fleet: fleet_pb2_grpc.FleetServiceStub) -> dict[str, bytes]:
    """The seeded objects' desired state as stored: metadata (uid, generation, labels,
    annotations) and spec, serialized."""
    found = {}
    for kind, name in (("ModelDeployment", "seed-kept-chat"), ("Node", "seed-kept-node")):
        got = fleet.Get(fleet_pb2.GetRequest(kind=kind, name=name), timeout=10).resource
        body = getattr(got, got.WhichOneof("resource"))
        body.metadata.ClearField("resource_version")  # status writes move it: not a change
        found[name] = body.metadata.SerializeToString() + body.spec.SerializeToString()
    return found


@pytest.fixture(scope="module")
def seeded(
    server: ServerProcess,
    fleet: fleet_pb2_grpc.FleetServiceStub,
    agents: agent_pb2_grpc.AgentServiceStub,
) -> tuple[dict[str, bytes], str]:
    """The objects stored before the fuzzing, and a node token for Connect."""
    deployment, node = load_manifests(SEEDS)
    fleet.Apply(fleet_pb2.ApplyRequest(resource=to_resource(deployment)), timeout=10)
    joined = agents.Join(
        agent_pb2.JoinRequest(
            bootstrap_token=server.token_file.read_text().strip(),
            node=to_resource(node).node,
        ),
        timeout=10,
    )
    return stored(fleet), joined.node_token


def answer(call: Callable[[], Any]) -> grpc.StatusCode:
    """The status a call ended with (streams read to their end)."""
    try:
        result = call()
        if isinstance(result, grpc.Future) and hasattr(result, "__iter__"):
            for _ in result:
                pass
    except grpc.RpcError as e:
        code: grpc.StatusCode = e.code()
        assert code not in SERVER_FAULTS, f"{code.name}: {e.details()}"
        return code
    return grpc.StatusCode.OK


# -- the fuzzing ---------------------------------------------------------------------------


@FUZZ
@given(resource=deployments(), dry_run=st.booleans())
def test_apply(
    fleet: fleet_pb2_grpc.FleetServiceStub,
    seeded: object,
    resource: resources_pb2.Resource,
    dry_run: bool,
) -> None:
    answer(lambda: fleet.Apply(fleet_pb2.ApplyRequest(resource=resource, dry_run=dry_run)))


@FUZZ
@given(node=nodes())
def test_apply_node(
    fleet: fleet_pb2_grpc.FleetServiceStub, seeded: object, node: resources_pb2.Node
) -> None:
    request = fleet_pb2.ApplyRequest(resource=resources_pb2.Resource(node=node))
    answer(lambda: fleet.Apply(request, timeout=10))


@FUZZ
@given(kind=KINDS, name=NAMES)
def test_get(fleet: fleet_pb2_grpc.FleetServiceStub, seeded: object, kind: str, name: str) -> None:
    answer(lambda: fleet.Get(fleet_pb2.GetRequest(kind=kind, name=name), timeout=10))


@FUZZ
@given(kind=KINDS, selector=HOSTILE_TEXT, limit=UINT32, token=HOSTILE_TEXT, as_table=st.booleans())
def test_list(
    fleet: fleet_pb2_grpc.FleetServiceStub,
    seeded: object,
    kind: str,
    selector: str,
    limit: int,
    token: str,
    as_table: bool,
) -> None:
    request = fleet_pb2.ListRequest(
        kind=kind, label_selector=selector, limit=limit, as_table=as_table
    )
    setattr(request, "continue", token)
    answer(lambda: fleet.List(request, timeout=10))


@FUZZ
@given(kind=KINDS, selector=HOSTILE_TEXT, version=HOSTILE_TEXT)
def test_watch(
    fleet: fleet_pb2_grpc.FleetServiceStub,
    seeded: object,
    kind: str,
    selector: str,
    version: str,
) -> None:
    request = fleet_pb2.WatchRequest(kind=kind, label_selector=selector, resource_version=version)
    # A valid watch streams until its deadline: DEADLINE_EXCEEDED is the client's own.
    answer(lambda: fleet.Watch(request, timeout=0.3))


@FUZZ
@given(kind=KINDS, name=NAMES, version=HOSTILE_TEXT)
def test_delete(
    fleet: fleet_pb2_grpc.FleetServiceStub, seeded: object, kind: str, name: str, version: str
) -> None:
    request = fleet_pb2.DeleteRequest(kind=kind, name=name, resource_version=version)
    answer(lambda: fleet.Delete(request, timeout=10))


@FUZZ
@given(node=nodes(), real_token=st.booleans(), token=HOSTILE_TEXT)
def test_join(
    server: ServerProcess,
    agents: agent_pb2_grpc.AgentServiceStub,
    seeded: object,
    node: resources_pb2.Node,
    real_token: bool,
    token: str,
) -> None:
    bootstrap = server.token_file.read_text().strip() if real_token else token
    request = agent_pb2.JoinRequest(bootstrap_token=bootstrap, node=node)
    answer(lambda: agents.Join(request, timeout=10))


@FUZZ
@given(
    messages=st.lists(agent_messages(), max_size=4),
    hello_name=st.one_of(st.just("seed-kept-node"), HOSTILE_TEXT),
    token=st.one_of(
        st.none(), st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126))
    ),
)
def test_connect(
    agents: agent_pb2_grpc.AgentServiceStub,
    seeded: tuple[dict[str, bytes], str],
    messages: list[agent_pb2.AgentMessage],
    hello_name: str,
    token: str | None,
) -> None:
    hello = agent_pb2.AgentMessage(hello=agent_pb2.Hello(node_name=hello_name))
    bearer = seeded[1] if token is None else token
    metadata = (("authorization", f"Bearer {bearer}"),)
    answer(lambda: agents.Connect(iter([hello, *messages]), metadata=metadata, timeout=10))


METHODS = [
    ("/tokenplane.v1.FleetService/Apply", "unary"),
    ("/tokenplane.v1.FleetService/Get", "unary"),
    ("/tokenplane.v1.FleetService/List", "unary"),
    ("/tokenplane.v1.FleetService/Delete", "unary"),
    ("/tokenplane.v1.FleetService/Watch", "stream"),
    ("/tokenplane.v1.AgentService/Join", "unary"),
    ("/tokenplane.v1.AgentService/Connect", "bidi"),
]


@FUZZ
@given(method=st.sampled_from(METHODS), data=GARBAGE)
def test_raw_bytes(
    channel: grpc.Channel,
    seeded: tuple[dict[str, bytes], str],
    method: tuple[str, str],
    data: bytes,
) -> None:
    path, shape = method
    metadata = (("authorization", f"Bearer {seeded[1]}"),)
    if shape == "unary":
        answer(lambda: channel.unary_unary(path)(data, timeout=10))
    elif shape == "stream":
        answer(lambda: channel.unary_stream(path)(data, timeout=0.3))
    else:
        answer(lambda: channel.stream_stream(path)(iter([data]), metadata=metadata, timeout=10))


def test_the_server_is_up_logged_no_traceback_and_kept_what_was_stored(
    server: ServerProcess,
    fleet: fleet_pb2_grpc.FleetServiceStub,
    seeded: tuple[dict[str, bytes], str],
) -> None:
    assert server.proc.poll() is None, server.output()[-2000:]
    assert stored(fleet) == seeded[0]
    assert "Traceback" not in server.output()

"""A careless or hostile client's input, over real gRPC to a real `tokenplane-server`.

Each case is answered as the client's error (INVALID_ARGUMENT, OUT_OF_RANGE,
RESOURCE_EXHAUSTED), with a message that names the field and quotes little of
the input, and the server stays up: never INTERNAL or UNKNOWN, never a traceback
in its log. Also here: List's pages (`limit`, `continue`), and tpctl's client
reading them transparently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import grpc
import pytest

from controlplane.cli.client import FleetClient
from controlplane.cli.config import Target
from controlplane.resources import load_manifests
from controlplane.resources.codec import to_resource
from tests.support.processes import ServerProcess
from tokenplane.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc, resources_pb2

MIB = 1024 * 1024


def deployment(name: str, *, labels: str = "{suite: bad-input}") -> str:
    return f"""
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {{name: {name}, labels: {labels}}}
spec:
  model: {{name: chat, runtime: fixture}}
  replicas: 1
  resources: {{gpus: 1, gpuModel: L4, powerKw: 0.3}}
  demand: [{{lat: 48.14, lon: 11.58}}]
"""


def resource(text: str) -> resources_pb2.Resource:
    return to_resource(load_manifests(text)[0])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("bad-input") / "server")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(
        server.address, options=[("grpc.max_receive_message_length", 16 * MIB)]
    ) as channel:
        yield channel


@pytest.fixture(scope="module")
def fleet(channel: grpc.Channel) -> fleet_pb2_grpc.FleetServiceStub:
    return fleet_pb2_grpc.FleetServiceStub(channel)


def refusal(call: object) -> grpc.RpcError:
    """The error a call (a thunk) ended with; fails the test if it succeeded."""
    try:
        result = call()  # type: ignore[operator]
        if hasattr(result, "__iter__") and not isinstance(result, (str, bytes)):
            list(result)
    except grpc.RpcError as e:
        return e
    raise AssertionError("the call succeeded")


def watch(fleet: fleet_pb2_grpc.FleetServiceStub, version: str) -> grpc.RpcError:
    request = fleet_pb2.WatchRequest(kind="ModelDeployment", resource_version=version)
    return refusal(lambda: fleet.Watch(request, timeout=10))


@pytest.mark.parametrize("version", ["abc", "-5", str(10**20), "1e3", " 7"])
def test_watch_from_what_is_no_revision_is_invalid_naming_the_field(
    fleet: fleet_pb2_grpc.FleetServiceStub, version: str
) -> None:
    error = watch(fleet, version)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith("resourceVersion:")


def test_watch_from_a_revision_the_store_has_not_reached_is_out_of_range(
    fleet: fleet_pb2_grpc.FleetServiceStub,
) -> None:
    error = watch(fleet, str(2**62))
    assert error.code() is grpc.StatusCode.OUT_OF_RANGE, error.details()
    assert "ahead of the store" in error.details()


@pytest.mark.parametrize("version", ["abc", "-1", "0"])
def test_delete_at_what_is_no_revision_is_invalid_naming_the_field(
    fleet: fleet_pb2_grpc.FleetServiceStub, version: str
) -> None:
    fleet.Apply(fleet_pb2.ApplyRequest(resource=resource(deployment("kept"))), timeout=10)
    request = fleet_pb2.DeleteRequest(kind="ModelDeployment", name="kept", resource_version=version)
    error = refusal(lambda: fleet.Delete(request, timeout=10))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith("resourceVersion:")
    kept = fleet.Get(fleet_pb2.GetRequest(kind="ModelDeployment", name="kept"), timeout=10)
    assert kept.resource.model_deployment.metadata.name == "kept"


def test_a_70_kb_name_is_refused_without_being_echoed(
    fleet: fleet_pb2_grpc.FleetServiceStub,
) -> None:
    for call in (
        lambda: fleet.Get(fleet_pb2.GetRequest(kind="Node", name="n" * 70_000), timeout=10),
        lambda: fleet.Get(fleet_pb2.GetRequest(kind="k" * 70_000, name="n"), timeout=10),
        lambda: fleet.Delete(fleet_pb2.DeleteRequest(kind="Node", name="n" * 70_000), timeout=10),
    ):
        error = refusal(call)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert len(error.details()) < 400


def test_an_object_over_1_mib_is_refused_naming_its_largest_field_and_lists_still_work(
    fleet: fleet_pb2_grpc.FleetServiceStub,
) -> None:
    big = resource(deployment("big"))
    for i in range(6):  # each annotation within bounds on its own, together 1.5 MiB
        big.model_deployment.metadata.annotations[f"blob-{i}"] = "x" * (MIB // 4)
    error = refusal(lambda: fleet.Apply(fleet_pb2.ApplyRequest(resource=big), timeout=10))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    assert 'ModelDeployment "big"' in error.details()
    assert "metadata.annotations" in error.details()
    listed = fleet.List(fleet_pb2.ListRequest(kind="ModelDeployment"), timeout=10)
    assert "big" not in {r.model_deployment.metadata.name for r in listed.items}


@pytest.mark.parametrize("field", ["metadata.annotations", "metadata.labels"])
def test_labels_and_annotations_are_bounded_naming_the_field(
    fleet: fleet_pb2_grpc.FleetServiceStub, field: str
) -> None:
    message = resource(deployment("bounded"))
    meta = message.model_deployment.metadata
    if field == "metadata.labels":
        meta.labels.update({f"k{i}": "v" for i in range(65)})
    else:
        meta.annotations["a"] = "y" * 300_000
    error = refusal(lambda: fleet.Apply(fleet_pb2.ApplyRequest(resource=message), timeout=10))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert field in error.details()


METHODS = {
    "/tokenplane.v1.FleetService/Apply": "unary",
    "/tokenplane.v1.FleetService/Get": "unary",
    "/tokenplane.v1.FleetService/List": "unary",
    "/tokenplane.v1.FleetService/Delete": "unary",
    "/tokenplane.v1.FleetService/Watch": "stream",
    "/tokenplane.v1.AgentService/Join": "unary",
    "/tokenplane.v1.AgentService/Connect": "bidi",
}
# Not a message: field 1 as a string of bytes that are not UTF-8.
GARBAGE = b"\x0a\x03\xff\xfe\xfd"


def send_raw(channel: grpc.Channel, method: str, data: bytes) -> grpc.RpcError:
    shape = METHODS[method]
    if shape == "unary":
        return refusal(lambda: channel.unary_unary(method)(data, timeout=10))
    if shape == "stream":
        return refusal(lambda: channel.unary_stream(method)(data, timeout=10))
    return refusal(lambda: channel.stream_stream(method)(iter([data]), timeout=10))


def test_undecodable_requests_are_invalid_argument_with_one_log_line_per_method(
    server: ServerProcess, channel: grpc.Channel
) -> None:
    for method in METHODS:
        for _ in range(20):
            error = send_raw(channel, method, GARBAGE)
            code = error.code()
            # Connect checks who calls before it reads: no token is UNAUTHENTICATED.
            assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED)
            if code is grpc.StatusCode.INVALID_ARGUMENT:
                assert error.details().startswith("request:")
    log = server.output()
    assert "Traceback" not in log
    for method in ("Apply", "Get", "List", "Delete", "Watch", "Join"):
        lines = re.findall(rf"undecodable {method} request", log)
        assert len(lines) == 1, f"{method}: {lines}"


@pytest.fixture(scope="module")
def node_token(server: ServerProcess, channel: grpc.Channel) -> str:
    node = load_manifests("""
apiVersion: tokenplane.io/v1
kind: Node
metadata: {name: garbled-1}
spec:
  tier: edge
  location: {lat: 48.1, lon: 11.6, region: eu-central, country: DE}
  capacity: {gpus: [{model: L4, memoryGb: 24, count: 4}]}
  power: {budgetKw: 20}
""")[0]
    joined = agent_pb2_grpc.AgentServiceStub(channel).Join(
        agent_pb2.JoinRequest(
            bootstrap_token=server.token_file.read_text().strip(),
            node=to_resource(node).node,
        ),
        timeout=10,
    )
    return joined.node_token


def connect(
    channel: grpc.Channel, token: str, *messages: agent_pb2.AgentMessage
) -> tuple[grpc.StatusCode, str]:
    """Sends a Hello, then `messages`, then ends; how the server ended the stream."""
    hello = agent_pb2.AgentMessage(hello=agent_pb2.Hello(node_name="garbled-1"))
    replies = agent_pb2_grpc.AgentServiceStub(channel).Connect(
        iter([hello, *messages]), metadata=(("authorization", f"Bearer {token}"),), timeout=10
    )
    try:
        for _ in replies:  # settings, then the end of the stream
            pass
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


def heartbeat(*gpus: agent_pb2.GpuUsage, **figures: float) -> agent_pb2.AgentMessage:
    return agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat(gpus=gpus, **figures))


@pytest.mark.parametrize(
    ("message", "code", "field"),
    [
        (
            heartbeat(agent_pb2.GpuUsage(model="L4", memory_gb=24, total=2**32 - 1)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "heartbeat.gpus[0].total",
        ),
        (heartbeat(it_draw_kw=float("nan")), grpc.StatusCode.INVALID_ARGUMENT, "itDrawKw"),
        (
            heartbeat(*(agent_pb2.GpuUsage(model=f"fake-{i}", total=1) for i in range(20))),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "heartbeat.gpus",
        ),
    ],
)
def test_a_heartbeat_the_inventory_cannot_hold_closes_the_stream_naming_the_field(
    fleet: fleet_pb2_grpc.FleetServiceStub,
    channel: grpc.Channel,
    node_token: str,
    message: agent_pb2.AgentMessage,
    code: grpc.StatusCode,
    field: str,
) -> None:
    status, details = connect(channel, node_token, message)
    assert status is code, details
    assert field in details
    node = fleet.Get(fleet_pb2.GetRequest(kind="Node", name="garbled-1"), timeout=10)
    gpus = node.resource.node.status.gpus
    assert all(g.total <= 4 for g in gpus)  # the row kept what it had
    assert not any(g.model.startswith("fake-") for g in gpus)


def test_gpu_models_are_bounded_for_the_whole_fleet(channel: grpc.Channel, node_token: str) -> None:
    """One node inventing model names, 16 at a time, stops at the fleet's cap (64)."""
    answers = []
    for batch in range(8):
        models = (agent_pb2.GpuUsage(model=f"invented-{batch}-{i}", total=1) for i in range(16))
        answers.append(connect(channel, node_token, heartbeat(*models)))
    codes = [code for code, _ in answers]
    assert codes[:3] == [grpc.StatusCode.OK] * 3  # 48 new models and L4: within the cap
    assert codes[3:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 5
    assert "distinct GPU models" in answers[3][1]


@pytest.mark.parametrize("timeout_s", [float("nan"), float("inf"), -1.0, 1e12])
def test_a_drain_timeout_that_is_no_duration_is_invalid_and_cordons_nothing(
    fleet: fleet_pb2_grpc.FleetServiceStub, node_token: str, timeout_s: float
) -> None:
    request = fleet_pb2.DrainRequest(name="garbled-1", timeout_s=timeout_s)
    error = refusal(lambda: fleet.Drain(request, timeout=10))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith("timeoutS:")
    node = fleet.Get(fleet_pb2.GetRequest(kind="Node", name="garbled-1"), timeout=10)
    assert not node.resource.node.spec.unschedulable


@pytest.fixture(scope="module")
def paged(fleet: fleet_pb2_grpc.FleetServiceStub) -> list[str]:
    names = [f"page-{i:02}" for i in range(12)]
    for name in names:
        text = deployment(name, labels="{suite: paging}")
        fleet.Apply(fleet_pb2.ApplyRequest(resource=resource(text)), timeout=10)
    return names


def list_page(
    fleet: fleet_pb2_grpc.FleetServiceStub, limit: int, token: str = "", *, as_table: bool = False
) -> fleet_pb2.ListResponse:
    request = fleet_pb2.ListRequest(
        kind="ModelDeployment", label_selector="suite=paging", limit=limit, as_table=as_table
    )
    setattr(request, "continue", token)
    response: fleet_pb2.ListResponse = fleet.List(request, timeout=10)
    return response


@pytest.mark.parametrize("as_table", [False, True])
def test_list_pages_by_limit_and_continue(
    fleet: fleet_pb2_grpc.FleetServiceStub, paged: list[str], as_table: bool
) -> None:
    seen: list[str] = []
    sizes, remaining, revisions = [], [], set()
    token = ""
    while True:
        page = list_page(fleet, 5, token, as_table=as_table)
        names = (
            [row.name for row in page.table.rows]
            if as_table
            else [r.model_deployment.metadata.name for r in page.items]
        )
        seen += names
        sizes.append(len(names))
        remaining.append(page.remaining_item_count)
        revisions.add(page.header.revision)
        token = getattr(page, "continue")
        if not token:
            break
    assert seen == paged
    assert sizes == [5, 5, 2]
    assert remaining == [7, 2, 0]
    assert len(revisions) == 1  # every page reports the first page's revision


@pytest.mark.parametrize(
    ("token", "says"),
    [("not a token", "continue: not a token"), ("eyJrIjoiTm9kZSIsImEiOiJ4IiwiciI6MX0=", "Node")],
)
def test_a_continue_token_not_from_this_list_is_invalid(
    fleet: fleet_pb2_grpc.FleetServiceStub, paged: list[str], token: str, says: str
) -> None:
    error = refusal(lambda: list_page(fleet, 5, token))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert says in error.details()


def test_tpctl_reads_every_page(server: ServerProcess, paged: list[str]) -> None:
    target = Target(server=server.address, origin="--server", context=None, token=None, tls=False)
    client = FleetClient(target, timeout_s=10, page_size=5)
    items, revision = client.list("ModelDeployment", "suite=paging")
    assert [i.name for i in items] == paged
    assert revision > 0
    _, rows = client.table("ModelDeployment", "suite=paging")
    assert [row[0] for row in rows] == paged


def test_the_server_is_up_and_answers_after_all_of_it(
    server: ServerProcess, fleet: fleet_pb2_grpc.FleetServiceStub
) -> None:
    assert server.proc.poll() is None
    assert fleet.List(fleet_pb2.ListRequest(kind="Node"), timeout=10).header.revision > 0
    assert "Traceback" not in server.output()

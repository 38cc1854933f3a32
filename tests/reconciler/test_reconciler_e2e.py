"""Placement made real: the server, hollow agents and the reconciler over loopback.

Each test starts `tokenplane-server` (inline scheduler: Ray is exercised by the
scheduler's own tests and by the demo) and hollow agent processes, applies
deployments through the Fleet API, and checks what a user would see: where the
replicas run, that they are Running, and the reasons given.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from controlplane.resources import ModelDeployment, Replica, load_manifests
from controlplane.resources.codec import from_resource, to_resource
from tests.support.manifests import deployment_yaml, node_yaml
from tests.support.processes import HollowFleet, ServerProcess
from tests.support.waiting import wait_until
from tokenplane.v1 import fleet_pb2, fleet_pb2_grpc


class Fleet:
    """The server plus hollow agent processes, and a Fleet API client."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.server = ServerProcess(tmp_path / "state", "--replan-interval", "3600")
        self.channel = grpc.insecure_channel(self.server.address)
        self.stub = fleet_pb2_grpc.FleetServiceStub(self.channel)
        self.agents: dict[str, HollowFleet] = {}

    def start_agents(self, group: str, nodes: list[str]) -> HollowFleet:
        path = self.tmp_path / f"{group}.yaml"
        path.write_text("---\n".join(nodes))
        agents = HollowFleet(
            path, self.server.address, self.server.token_file, "--startup-seconds", "0.3"
        )
        self.agents[group] = agents
        return agents

    def apply(self, text: str) -> None:
        for resource in load_manifests(text):
            self.stub.Apply(fleet_pb2.ApplyRequest(resource=to_resource(resource)))

    def deployment(self, name: str) -> ModelDeployment:
        got = self.stub.Get(fleet_pb2.GetRequest(kind="ModelDeployment", name=name))
        resource = from_resource(got.resource)
        assert isinstance(resource, ModelDeployment)
        return resource

    def replicas(self, deployment: str) -> list[Replica]:
        items = self.stub.List(fleet_pb2.ListRequest(kind="Replica")).items
        found = [from_resource(i) for i in items]
        return [r for r in found if isinstance(r, Replica) and r.spec.deployment == deployment]

    def running_on(self, deployment: str) -> list[str]:
        return sorted(
            r.spec.node_name for r in self.replicas(deployment) if r.status.phase == "Running"
        )

    def ready_replicas(self, deployment: str) -> int:
        status = self.deployment(deployment).status
        return status.ready_replicas if status else 0

    def ready_nodes(self) -> int:
        nodes = self.stub.List(fleet_pb2.ListRequest(kind="Node")).items
        return sum(
            any(c.type == "Ready" and c.status == "True" for c in n.node.status.conditions)
            for n in nodes
        )

    def events(self, name: str) -> list[str]:
        """Event lines, a repeated event (aggregated by the server with a count) once a time."""
        request = fleet_pb2.EventsRequest(kind="ModelDeployment", name=name)
        return [
            f"{e.event.reason}: {e.event.message}"
            for e in self.stub.Events(request)
            for _ in range(max(1, e.count))
        ]

    def close(self) -> None:
        for agents in self.agents.values():
            agents.signal(signal.SIGCONT)
            agents.stop()
        self.channel.close()
        self.server.stop()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path)
    yield f
    f.close()


def test_lands_on_the_renewable_site_not_the_equally_near_coal_one(fleet: Fleet) -> None:
    fleet.start_agents(
        "eu", [node_yaml("fra-1", "fra"), node_yaml("ams-1", "ams"), node_yaml("nyc-1", "nyc")]
    )
    wait_until(lambda: fleet.ready_nodes() == 3, 20, "3 nodes Ready")
    fleet.apply(deployment_yaml("chat-eu", 2, extra="  latencySloMs: 30\n"))
    wait_until(
        lambda: fleet.running_on("chat-eu") == ["fra-1", "fra-1"],
        20,
        "both replicas Running in Frankfurt",
    )
    wait_until(lambda: fleet.ready_replicas("chat-eu") == 2, 10, "status shows 2/2 ready")
    status = fleet.deployment("chat-eu").status
    assert status is not None and status.desired_replicas == 2
    why = status.replicas[0].placement
    assert why is not None and why.node == "fra-1"
    assert why.renewable_share > 0.9 and why.rtt_ms < 30
    assert why.total_nodes == 3 and 0 < why.feasible_nodes <= 3
    assert why.message.startswith(f"{why.feasible_nodes}/3 nodes available")
    assert any(e.startswith("Scheduled: ") and "fra-1" in e for e in fleet.events("chat-eu"))
    node = fleet.stub.Get(fleet_pb2.GetRequest(kind="Node", name="fra-1")).resource.node
    assert sorted(node.status.replicas) == sorted(r.name for r in fleet.replicas("chat-eu"))


def test_residency_holds_even_when_the_allowed_site_is_worse(fleet: Fleet) -> None:
    fleet.start_agents("eu", [node_yaml("fra-1", "fra"), node_yaml("ams-1", "ams", gpus=2)])
    wait_until(lambda: fleet.ready_nodes() == 2, 20, "2 nodes Ready")
    fleet.apply(deployment_yaml("nl-only", 3, extra="  placement: {countries: [NL]}\n"))
    wait_until(lambda: len(fleet.running_on("nl-only")) == 2, 20, "2 replicas Running")
    # Every pass that cannot place the third replica says so: after three of them,
    # it has still not spilled into Germany.
    wait_until(
        lambda: sum(e.startswith("FailedScheduling") for e in fleet.events("nl-only")) >= 3,
        20,
        "three passes failing to place the third replica",
    )
    assert fleet.running_on("nl-only") == ["ams-1", "ams-1"]
    status = fleet.deployment("nl-only").status
    assert status is not None
    unschedulable = [c for c in status.conditions if c.type == "Unschedulable"]
    assert unschedulable and "residency" in unschedulable[0].message
    assert "insufficient GPUs" in unschedulable[0].message


def test_killed_agent_has_its_replicas_placed_elsewhere(fleet: Fleet) -> None:
    fleet.start_agents("fra", [node_yaml("fra-1", "fra")])
    fleet.start_agents("par", [node_yaml("par-1", "par")])
    wait_until(lambda: fleet.ready_nodes() == 2, 20, "2 nodes Ready")
    fleet.apply(deployment_yaml("chat", 2))
    wait_until(lambda: fleet.running_on("chat") == ["fra-1", "fra-1"], 20, "Running on fra-1")
    fleet.agents["fra"].kill()
    wait_until(
        lambda: fleet.running_on("chat") == ["par-1", "par-1"],
        15,
        "replicas Running on par-1 after fra-1 died",
    )
    assert len(fleet.replicas("chat")) == 2, "the lost replicas are gone, not double-counted"
    assert any(e.startswith("NodeLost: ") for e in fleet.events("chat"))


def test_drain_moves_every_replica_make_before_break(fleet: Fleet) -> None:
    fleet.start_agents(
        "eu", [node_yaml("fra-1", "fra"), node_yaml("par-1", "par"), node_yaml("ams-1", "ams")]
    )
    wait_until(lambda: fleet.ready_nodes() == 3, 20, "3 nodes Ready")
    fleet.apply(deployment_yaml("chat", 4))
    wait_until(lambda: fleet.running_on("chat") == ["fra-1"] * 4, 20, "4 Running on fra-1")
    before = {r.name for r in fleet.replicas("chat")}
    response = fleet.stub.Drain(fleet_pb2.DrainRequest(name="fra-1", timeout_s=60), timeout=70)
    assert len(response.moved) == 4 and all("->" in m for m in response.moved)
    after = fleet.replicas("chat")
    assert len(after) == 4 and not before & {r.name for r in after}
    assert all(r.spec.node_name != "fra-1" and r.status.phase == "Running" for r in after)
    node = fleet.stub.Get(fleet_pb2.GetRequest(kind="Node", name="fra-1")).resource.node
    assert node.spec.unschedulable
    wait_until(lambda: fleet.ready_replicas("chat") == 4, 10, "status shows 4/4 ready")

    # Replacements are ordinary replicas once their move is done: they move again.
    fleet.stub.Uncordon(fleet_pb2.CordonRequest(name="fra-1"))
    for name in sorted({r.spec.node_name for r in after}):
        fleet.stub.Drain(fleet_pb2.DrainRequest(name=name, timeout_s=60), timeout=70)
    assert fleet.running_on("chat") == ["fra-1"] * 4


def test_a_deployment_beyond_its_slo_runs_and_says_who_is_beyond_it(fleet: Fleet) -> None:
    """Frankfurt has no power for it; New York has, but is beyond 20 ms of Düsseldorf."""
    fleet.start_agents("eu", [node_yaml("fra-1", "fra", budget_kw=5), node_yaml("nyc-1", "nyc")])
    wait_until(lambda: fleet.ready_nodes() == 2, 20, "2 nodes Ready")
    fleet.apply(
        deployment_yaml("big", 1, gpus=4, extra="  latencySloMs: 20\n").replace(
            "powerKw: 1.0", "powerKw: 10"
        )
    )
    wait_until(lambda: fleet.running_on("big") == ["nyc-1"], 20, "Running on nyc-1")

    def slo_condition() -> str:
        status = fleet.deployment("big").status
        assert status is not None and status.attainment == 0.0
        (route,) = status.routes
        assert (route.demand, route.node, route.within_slo) == ("duesseldorf", "nyc-1", False)
        (c,) = [c for c in status.conditions if c.type == "LatencySLO"]
        assert c.status == "False"
        return c.message

    wait_until(slo_condition, 20, "the LatencySLO condition", ignoring=(AssertionError, ValueError))
    message = slo_condition()
    assert message.startswith("0.0% of demand within 20 ms; beyond it: duesseldorf (")
    scheduled = next(e for e in fleet.events("big") if e.startswith("Scheduled"))
    assert "1/2 nodes available: 1 power headroom" in scheduled

"""Curtailment events through the reconciler: a real store (SQLite in a temp dir), the real
inventory table and inline placer; the agents are played by the test (named `FakeAgents`),
whose heartbeats report the draw of the replicas they run, and both clocks are the test's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from controlplane.inventory import InventoryTable
from controlplane.objects import ObjectStore
from controlplane.reconciler import curtailment
from controlplane.reconciler.controller import Reconciler, ReconcilerConfig
from controlplane.reconciler.placer import InlinePlacer
from controlplane.resources import (
    Curtailment,
    CurtailmentSpec,
    ModelDeployment,
    Node,
    ObjectMeta,
    Replica,
    load_manifests,
)
from controlplane.resources.replica import ReplicaReport
from controlplane.resources.wellknown import ReplicaPhase
from controlplane.store.sqlite import SqliteStore
from tests.support.manifests import SITES, deployment_yaml, node_yaml
from tokenplane.v1 import agent_pb2

CONFIG = ReconcilerConfig(replan_interval_s=3600, node_grace_s=0)
REPLICA_KW = 1.0  # deployment_yaml's powerKw
IDLE_KW = 2.0  # each site's draw with nothing running


class Clock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


class FakeAgents:
    """Stands in for the node agents: commands are recorded, every node is connected."""

    def __init__(self) -> None:
        self.deploys: list[Replica] = []
        self.undeploys: list[tuple[str, str]] = []

    def connected(self, node: str) -> bool:
        return True

    async def deploy(self, replica: Replica) -> None:
        self.deploys.append(replica)

    async def undeploy(self, node: str, name: str) -> None:
        self.undeploys.append((node, name))


class World:
    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self.table = InventoryTable(interval_s=1.0)
        self.mono = Clock(1000.0)
        self.wall = Clock(1_700_000_000.0)
        self.agents = FakeAgents()
        self.reconciler = Reconciler(
            objects=objects,
            inventory=self.table,
            agents=self.agents,
            placer=InlinePlacer(),
            config=CONFIG,
            clock=self.mono,
            event_clock=self.wall,
        )
        self.answered = (0, 0)
        self.nodes: list[str] = []
        self.signals_kw: dict[str, float] = {}  # node -> its feed's demand-response signal

    async def add_node(self, name: str, site: str) -> None:
        node = load_manifests(node_yaml(name, site, budget_kw=10))[0]
        assert isinstance(node, Node)
        await self.objects.create(node)
        self.table.upsert(node)
        self.table.connect(self.table.slot(name), self.mono())
        self.nodes.append(name)

    async def running_on(self, node: str) -> int:
        replicas = await self.objects.list_of(Replica)
        return sum(
            1
            for r in replicas
            if r.spec.node_name == node
            and r.status.phase in (ReplicaPhase.RUNNING, ReplicaPhase.TERMINATING)
        )

    async def heartbeats(self) -> None:
        """Every node reports the draw of what it runs (make-before-break pairs both draw)."""
        for name in self.nodes:
            _, _, _, renewable, carbon = SITES[str(self.table.region[self.table.slot(name)])]
            self.table.heartbeat(
                self.table.slot(name),
                agent_pb2.Heartbeat(
                    it_draw_kw=IDLE_KW + REPLICA_KW * await self.running_on(name),
                    budget_kw=10,
                    renewable_kw=renewable,
                    carbon_g_per_kwh=carbon,
                    price_per_kwh=0.1,
                    curtail_to_kw=self.signals_kw.get(name),
                ),
                self.mono(),
            )

    async def answer(self) -> None:
        deploys, undeploys = self.answered
        for replica in self.agents.deploys[deploys:]:
            report = ReplicaReport(replica.name, ReplicaPhase.RUNNING, "", "fake://")
            await self.reconciler.on_replica_state(replica.spec.node_name, report)
        for node, name in self.agents.undeploys[undeploys:]:
            await self.reconciler.on_replica_state(node, ReplicaReport(name, ReplicaPhase.STOPPED))
        self.answered = (len(self.agents.deploys), len(self.agents.undeploys))

    async def settle(self, passes: int = 5, every_s: float = 5.0) -> None:
        for _ in range(passes):
            await self.heartbeats()
            await self.reconciler.reconcile()
            await self.answer()
            self.wall.now_s += every_s
        await self.heartbeats()
        await self.reconciler.reconcile()

    async def event(self, name: str) -> Curtailment:
        found = await self.objects.get("Curtailment", name)
        assert isinstance(found, Curtailment)
        return found

    async def where(self) -> list[str]:
        replicas = await self.objects.list_of(Replica)
        return sorted(r.spec.node_name for r in replicas if r.status.phase == ReplicaPhase.RUNNING)


def run(tmp_path: Path, scenario: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "store.db")
        try:
            await scenario(World(ObjectStore(store)))
        finally:
            await store.close()

    asyncio.run(main())


def curtail(node: str, budget_kw: float, hours: float) -> Curtailment:
    return Curtailment(
        metadata=ObjectMeta(name=f"{node}-event"),
        spec=CurtailmentSpec(
            node_name=node,
            budget_kw=budget_kw,
            duration_seconds=hours * 3600,
            reason="grid event",
            requested_by="ops",
        ),
    )


def test_a_curtailed_site_sheds_to_its_budget_and_takes_load_back_when_it_ends(
    tmp_path: Path,
) -> None:
    async def scenario(w: World) -> None:
        await w.add_node("fra-1", "fra")  # solar surplus, near the users: everything goes here
        await w.add_node("ams-1", "ams")  # a coal-heavy grid: load returns when it can
        deployment = load_manifests(deployment_yaml("chat", 6))[0]
        assert isinstance(deployment, ModelDeployment)
        await w.objects.create(deployment)
        await w.settle()
        assert await w.where() == ["fra-1"] * 6  # draw 2 + 6 = 8 kW of 10

        await w.objects.create(curtail("fra-1", 5.0, hours=1))
        await w.settle()
        event = await w.event("fra-1-event")
        assert event.status.phase == "Active"
        assert event.status.baseline_kw == 8.0
        assert event.status.draw_kw <= 5.0, "within the lowered budget"
        assert (await w.where()).count("fra-1") == 3 and len(await w.where()) == 6
        assert event.status.time_to_shed_seconds is not None
        assert event.status.time_to_shed_seconds <= 30

        w.wall.now_s += 3600  # the hour passes: the budget returns
        w.mono.now_s += CONFIG.replan_interval_s  # and re-planning may bring load back
        await w.settle()
        event = await w.event("fra-1-event")
        assert event.status.phase == "Ended" and event.status.end_time
        assert 2.5 <= event.status.energy_shed_kwh <= 3.5, "3 kW shed for about an hour"
        assert await w.where() == ["fra-1"] * 6
        reasons = [e.reason for e in (await w.objects.list_events("Node", "fra-1"))[0]]
        assert [r for r in reasons if r.startswith("Curtailment")] == [
            curtailment.STARTED,
            curtailment.SHED,
            curtailment.ENDED,
        ]

    run(tmp_path, scenario)


def test_curtailment_never_pushes_a_site_over_budget_and_stops_what_fits_nowhere(
    tmp_path: Path,
) -> None:
    async def scenario(w: World) -> None:
        await w.add_node("fra-1", "fra")
        await w.add_node("par-1", "par")
        deployment = load_manifests(deployment_yaml("chat", 14))[0]
        assert isinstance(deployment, ModelDeployment)
        await w.objects.create(deployment)
        await w.settle()
        assert sorted(set(await w.where())) == ["fra-1", "par-1"]
        await w.objects.create(curtail("fra-1", 4.0, hours=4))
        await w.settle()
        snapshot = w.table.snapshot()
        assert all(snapshot.it_draw_kw <= snapshot.budget_kw), "par-1 takes only what fits"
        assert len(await w.where()) == 10, "what fits nowhere is stopped until the event ends"
        status = (await w.event("fra-1-event")).status
        assert status.draw_kw == 4.0 and status.baseline_kw == 10.0

    run(tmp_path, scenario)


def test_the_lowest_active_budget_applies_and_ended_events_do_not() -> None:
    active = curtail("fra-1", 5.0, 1).model_copy(deep=True)
    active.status.phase = "Active"
    lower = curtail("fra-1", 3.0, 1)
    lower.status.phase = "Active"
    ended = curtail("par-1", 1.0, 1)
    ended.status.phase = "Ended"
    assert curtailment.budgets([active, lower, ended]) == {"fra-1": 3.0}


def test_a_feeds_demand_response_signal_is_a_curtailment_for_as_long_as_it_lasts(
    tmp_path: Path,
) -> None:
    async def scenario(w: World) -> None:
        await w.add_node("fra-1", "fra")
        await w.add_node("ams-1", "ams")
        deployment = load_manifests(deployment_yaml("chat", 6))[0]
        assert isinstance(deployment, ModelDeployment)
        await w.objects.create(deployment)
        await w.settle()
        w.signals_kw["fra-1"] = 5.0  # the grid asks fra-1 to draw at most 5 kW
        await w.settle()
        (event,) = await w.objects.list_of(Curtailment)
        assert event.spec.requested_by == "feed:fra-1" and event.spec.budget_kw == 5.0
        assert event.status.phase == "Active" and event.status.draw_kw <= 5.0
        del w.signals_kw["fra-1"]  # 25 s after the pass that first saw it
        await w.settle()
        (event,) = await w.objects.list_of(Curtailment)
        assert event.status.phase == "Ended"
        assert event.spec.duration_seconds == 25.0, "it lasted as long as the signal"

    run(tmp_path, scenario)


def test_an_event_the_site_already_fits_took_no_time_to_shed() -> None:
    event = curtail("fra-1", 5.0, hours=1)
    status, notices = curtailment.step(
        event, now_s=1_700_000_000.0, draw_kw=4.0, budget_kw=10.0, since_s=None
    )
    assert status.phase == "Active" and status.time_to_shed_seconds == 0.0
    assert [n.reason for n in notices] == [curtailment.STARTED]
    assert "for 1h" in notices[0].message


def test_a_pass_long_after_the_end_counts_no_energy_past_it() -> None:
    event = curtail("fra-1", 5.0, hours=1)
    start_s = 1_700_000_000.0
    event.status, _ = curtailment.step(
        event, now_s=start_s, draw_kw=8.0, budget_kw=10.0, since_s=None
    )
    status, notices = curtailment.step(
        event, now_s=start_s + 5 * 3600, draw_kw=5.0, budget_kw=10.0, since_s=start_s
    )
    assert status.phase == "Ended" and status.energy_shed_kwh == 3.0  # 3 kW for the 1 h
    assert status.end_time == curtailment.rfc3339(start_s + 3600)
    assert notices[-1].reason == curtailment.ENDED and "after 1h" in notices[-1].message

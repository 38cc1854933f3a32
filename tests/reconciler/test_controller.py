"""The reconciler in-process: real store (SQLite in a temp dir), real inventory table,
the inline placer, a fake clock, and a fake command sink standing in for the agents.

Each test drives passes by hand and plays the agents' part (a deploy command
becomes a Running report, an undeploy a Stopped one), so it can check each
step of a lost node, a drain, a move, a curtailment or a restart exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from controlplane.inventory import InventoryTable
from controlplane.inventory.liveness import RECONNECT_CAP_S
from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.objects import ObjectStore
from controlplane.reconciler.controller import Reconciler, ReconcilerConfig
from controlplane.reconciler.placer import InlinePlacer, PlaceJob
from controlplane.resources import ModelDeployment, Node, Replica, load_manifests
from controlplane.resources.replica import ReplicaReport
from controlplane.resources.wellknown import REPLACES_ANNOTATION, ReplicaPhase
from controlplane.scheduler.pipeline import Placement, Unschedulable
from controlplane.store import Store
from controlplane.store.sqlite import SqliteStore
from tests.support.manifests import SITES, deployment_yaml, node_yaml
from tokenplane.v1 import agent_pb2

T = TypeVar("T")
CONFIG = ReconcilerConfig(replan_interval_s=60, node_grace_s=15)


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class FakeAgentCommands:
    """The edge of the world: records the commands the reconciler sends to agents."""

    def __init__(self) -> None:
        self.connected_nodes: set[str] = set()
        self.deploys: list[Replica] = []
        self.undeploys: list[tuple[str, str]] = []

    def connected(self, node: str) -> bool:
        return node in self.connected_nodes

    async def deploy(self, replica: Replica) -> None:
        self.deploys.append(replica)

    async def undeploy(self, node: str, name: str) -> None:
        self.undeploys.append((node, name))


class FailingPlacer(InlinePlacer):
    """A placer whose placement call raises, as a crashed Ray actor would."""

    async def place(
        self, snapshot: FleetSnapshot, jobs: Sequence[PlaceJob]
    ) -> list[list[Placement] | Unschedulable]:
        raise RuntimeError("placement actor died")


class Rig:
    """The reconciler and its world, with the agents' side played by `answer`."""

    def __init__(self, store: Store, table: InventoryTable, placer: InlinePlacer) -> None:
        self.objects = ObjectStore(store)
        self.table = table
        self.clock = FakeClock()
        self.agents = FakeAgentCommands()
        self.reconciler = Reconciler(
            objects=self.objects,
            inventory=table,
            agents=self.agents,
            placer=placer,
            config=CONFIG,
            clock=self.clock,
        )
        self.answered = (0, 0)  # deploys and undeploys already answered

    async def add_node(self, name: str, site: str, **energy: float) -> None:
        node = load_manifests(node_yaml(name, site))[0]
        assert isinstance(node, Node)
        await self.objects.create(node)
        self.table.upsert(node)
        self.connect(name)
        self.heartbeat(name, **energy)

    def connect(self, name: str) -> None:
        self.table.connect(self.table.slot(name), self.clock())
        self.agents.connected_nodes.add(name)

    def disconnect(self, name: str) -> None:
        self.table.disconnect(self.table.slot(name))
        self.agents.connected_nodes.discard(name)

    def heartbeat(
        self,
        name: str,
        *,
        carbon: float | None = None,
        renewable_kw: float | None = None,
        budget_kw: float = 40,
        draw_kw: float = 0,
    ) -> None:
        site = self.table.region[self.table.slot(name)]
        _, _, _, site_renewable, site_carbon = SITES[str(site)]
        self.table.heartbeat(
            self.table.slot(name),
            agent_pb2.Heartbeat(
                it_draw_kw=draw_kw,
                budget_kw=budget_kw,
                renewable_kw=site_renewable if renewable_kw is None else renewable_kw,
                carbon_g_per_kwh=site_carbon if carbon is None else carbon,
                price_per_kwh=0.1,
            ),
            self.clock(),
        )

    async def apply(self, name: str, replicas: int) -> None:
        deployment = load_manifests(deployment_yaml(name, replicas))[0]
        assert isinstance(deployment, ModelDeployment)
        await self.objects.create(deployment)

    async def answer(self) -> None:
        """Plays the connected agents: new replicas run, stopped ones report Stopped."""
        deploys, undeploys = self.answered
        for replica in self.agents.deploys[deploys:]:
            node = replica.spec.node_name
            if self.agents.connected(node):
                report = ReplicaReport(replica.name, ReplicaPhase.RUNNING, "", f"fake://{node}")
                await self.reconciler.on_replica_state(node, report)
        for node, name in self.agents.undeploys[undeploys:]:
            if self.agents.connected(node):
                stopped = ReplicaReport(name, ReplicaPhase.STOPPED)
                await self.reconciler.on_replica_state(node, stopped)
        self.answered = (len(self.agents.deploys), len(self.agents.undeploys))

    async def settle(self, passes: int = 4) -> None:
        """Reconcile passes, each followed by the agents' answers."""
        for _ in range(passes):
            await self.reconciler.reconcile()
            await self.answer()
        await self.reconciler.reconcile()

    async def replicas(self) -> list[Replica]:
        return await self.objects.list_of(Replica)

    async def where(self, phase: ReplicaPhase = ReplicaPhase.RUNNING) -> list[str]:
        return sorted(r.spec.node_name for r in await self.replicas() if r.status.phase == phase)

    async def deployment(self, name: str) -> ModelDeployment:
        found = await self.objects.get("ModelDeployment", name)
        assert isinstance(found, ModelDeployment)
        return found

    async def events(self, name: str) -> list[str]:
        events, _ = await self.objects.list_events("ModelDeployment", name)
        return [f"{e.reason}: {e.message}" for e in events]


@asynccontextmanager
async def rig(tmp_path: Path, placer: InlinePlacer | None = None) -> AsyncIterator[Rig]:
    store = SqliteStore(tmp_path / "store.db")
    try:
        yield Rig(store, InventoryTable(interval_s=1.0), placer or InlinePlacer())
    finally:
        await store.close()


def run(tmp_path: Path, scenario: Callable[[Rig], Awaitable[T]]) -> T:
    async def main() -> T:
        async with rig(tmp_path) as r:
            return await scenario(r)

    return asyncio.run(main())


def test_places_on_clean_power_and_reports_ready(tmp_path: Path) -> None:
    async def scenario(r: Rig) -> None:
        await r.add_node("fra-1", "fra", carbon=20, renewable_kw=800)
        await r.add_node("ams-1", "ams", carbon=700, renewable_kw=0)
        await r.apply("chat", 2)
        await r.reconciler.reconcile()
        assert [d.spec.node_name for d in r.agents.deploys] == ["fra-1", "fra-1"]
        assert await r.where(ReplicaPhase.SCHEDULED) == ["fra-1", "fra-1"]
        await r.settle()
        assert await r.where() == ["fra-1", "fra-1"]
        status = (await r.deployment("chat")).status
        assert status is not None and status.ready_replicas == 2
        assert any(c.type == "Available" and c.status == "True" for c in status.conditions)
        assert r.reconciler.replicas_on("fra-1") == sorted(x.name for x in await r.replicas())

    run(tmp_path, scenario)


def test_a_lost_node_has_its_replicas_replaced_elsewhere(tmp_path: Path) -> None:
    async def scenario(r: Rig) -> None:
        await r.add_node("fra-1", "fra", carbon=20)
        await r.add_node("par-1", "par", carbon=300)
        await r.apply("chat", 2)
        await r.settle()
        lost = {x.name for x in await r.replicas()}
        assert await r.where() == ["fra-1", "fra-1"]
        r.clock.advance(CONFIG.node_grace_s)  # long after the start: a silent node is lost
        r.disconnect("fra-1")
        await r.settle()
        assert await r.where() == ["par-1", "par-1"]
        assert not lost & {x.name for x in await r.replicas()}, "lost replicas are deleted"
        assert sum(e.startswith("NodeLost: ") for e in await r.events("chat")) == 2
        assert not any(node == "fra-1" for node, _ in r.agents.undeploys), "nobody to tell"

    run(tmp_path, scenario)


def test_when_most_of_the_fleet_goes_silent_at_once_nothing_is_replaced(tmp_path: Path) -> None:
    async def scenario(r: Rig) -> None:
        for name, site in (("fra-1", "fra"), ("ams-1", "ams"), ("par-1", "par"), ("nyc-1", "nyc")):
            await r.add_node(name, site, carbon=20 if site == "fra" else 500)
        await r.apply("chat", 2)
        await r.settle()
        before = sorted(x.name for x in await r.replicas())
        r.clock.advance(CONFIG.node_grace_s)
        for name in ("fra-1", "ams-1", "par-1"):  # likelier our network than three sites
            r.disconnect(name)
        await r.settle()
        assert sorted(x.name for x in await r.replicas()) == before
        assert not any(e.startswith("NodeLost") for e in await r.events("chat"))
        for name in ("ams-1", "par-1"):  # the fleet comes back, but fra-1 stays away
            r.connect(name)
        r.clock.advance(RECONNECT_CAP_S)  # the hold ends one reconnect window later
        await r.settle()
        assert "fra-1" not in await r.where() and len(await r.where()) == 2
        assert sum(e.startswith("NodeLost") for e in await r.events("chat")) == 2

    run(tmp_path, scenario)


def test_no_replan_moves_a_replica_while_most_of_the_fleet_is_silent(tmp_path: Path) -> None:
    """A restarted server sees its returning fleet NotReady; the re-plan must not move them."""

    async def scenario(r: Rig) -> None:
        for name, site in (("fra-1", "fra"), ("ams-1", "ams"), ("par-1", "par"), ("nyc-1", "nyc")):
            await r.add_node(name, site, carbon=20 if site == "fra" else 500)
        await r.apply("chat", 2)
        await r.settle()
        before = sorted(x.name for x in await r.replicas())
        r.clock.advance(CONFIG.replan_interval_s)  # a re-plan is due
        for name in ("fra-1", "ams-1", "par-1"):
            r.disconnect(name)
        await r.settle()
        assert sorted(x.name for x in await r.replicas()) == before
        assert not any(e.startswith("Rebalancing") for e in await r.events("chat"))

    run(tmp_path, scenario)


def test_drain_starts_the_replacement_before_stopping_the_old_replica(tmp_path: Path) -> None:
    async def scenario(r: Rig) -> None:
        await r.add_node("fra-1", "fra", carbon=20)
        await r.add_node("par-1", "par", carbon=300)
        await r.apply("chat", 2)
        await r.settle()
        old = {x.name for x in await r.replicas()}
        r.table.set_unschedulable("fra-1", True)
        drain = asyncio.create_task(r.reconciler.drain("fra-1", timeout_s=30))
        await asyncio.sleep(0)  # the drain queues its moves
        await r.reconciler.reconcile()
        assert await r.where(ReplicaPhase.SCHEDULED) == ["par-1", "par-1"]
        assert await r.where() == ["fra-1", "fra-1"], "the old ones serve until then"
        assert not r.agents.undeploys
        await r.answer()  # the replacements run
        await r.reconciler.reconcile()
        assert sorted(name for _, name in r.agents.undeploys) == sorted(old)
        assert await r.where(ReplicaPhase.TERMINATING) == ["fra-1", "fra-1"]
        await r.settle(passes=1)  # the old ones report Stopped and are deleted
        moved = await asyncio.wait_for(drain, 5)
        assert await r.where() == ["par-1", "par-1"]
        assert sorted(m.split(" -> ")[0] for m in moved) == sorted(old)
        assert all(m.endswith("@par-1") for m in moved)
        news = await r.replicas()
        assert {x.metadata.annotations[REPLACES_ANNOTATION] for x in news} == old

    run(tmp_path, scenario)


def test_routes_name_running_replicas_only_so_traffic_moves_make_before_break(
    tmp_path: Path,
) -> None:
    async def routes(r: Rig) -> list[tuple[str, str, float]]:
        status = (await r.deployment("chat")).status
        assert status is not None
        return sorted((x.replica, x.node, x.share) for x in status.routes)

    async def scenario(r: Rig) -> None:
        await r.add_node("fra-1", "fra", carbon=20)
        await r.add_node("par-1", "par", carbon=300)
        await r.apply("chat", 2)
        await r.reconciler.reconcile()
        assert await routes(r) == [], "no route to a replica that is not Running"
        await r.settle()
        old = sorted(x.name for x in await r.replicas())
        assert await routes(r) == [(name, "fra-1", 0.5) for name in old]
        status = (await r.deployment("chat")).status
        assert status is not None and status.attainment == 1.0
        assert {x.demand for x in status.routes} == {"duesseldorf"}
        assert {x.rtt_source for x in status.routes} == {"estimated"}
        assert all(0 < x.rtt_ms < 10 and x.within_slo for x in status.routes)

        r.table.set_unschedulable("fra-1", True)  # cordoned, as the Drain API does
        drain = asyncio.create_task(r.reconciler.drain("fra-1", timeout_s=30))
        await asyncio.sleep(0)
        await r.reconciler.reconcile()  # replacements Scheduled on par-1
        assert await routes(r) == [(name, "fra-1", 0.5) for name in old]
        await r.answer()  # ... and Running: the old ones stop in this pass
        await r.reconciler.reconcile()
        new = sorted(x.name for x in await r.replicas() if x.spec.node_name == "par-1")
        assert len(new) == 2 and await routes(r) == [(name, "par-1", 0.5) for name in new]
        await r.settle(passes=1)
        await asyncio.wait_for(drain, 5)

    run(tmp_path, scenario)


def test_a_replan_moves_replicas_to_cleaner_power_make_before_break(tmp_path: Path) -> None:
    async def scenario(r: Rig) -> None:
        await r.add_node("fra-1", "fra", carbon=20, renewable_kw=800)
        await r.add_node("par-1", "par", carbon=600, renewable_kw=0)
        await r.apply("chat", 2)
        await r.settle()
        assert await r.where() == ["fra-1", "fra-1"]
        r.heartbeat("fra-1", carbon=700, renewable_kw=0, draw_kw=2)  # the sun sets on Frankfurt
        r.heartbeat("par-1", carbon=15, renewable_kw=800)
        r.clock.advance(CONFIG.replan_interval_s)
        await r.reconciler.reconcile()
        assert any(e.startswith("Rebalancing: ") for e in await r.events("chat"))
        assert await r.where() == ["fra-1", "fra-1"], "nothing stops before its replacement runs"
        await r.settle()
        assert await r.where() == ["par-1", "par-1"]
        assert len(await r.replicas()) == 2

    run(tmp_path, scenario)


def test_curtailment_sheds_replicas_until_the_site_is_within_budget(tmp_path: Path) -> None:
    async def scenario(r: Rig) -> None:
        await r.add_node("fra-1", "fra", carbon=20, renewable_kw=800)
        await r.add_node("par-1", "par", carbon=300, renewable_kw=0)
        await r.apply("chat", 3)
        await r.settle()
        assert await r.where() == ["fra-1"] * 3
        r.heartbeat("fra-1", carbon=20, renewable_kw=800, budget_kw=1.5, draw_kw=3)
        r.clock.advance(CONFIG.replan_interval_s)
        await r.settle()
        where = await r.where()
        assert where.count("fra-1") <= 1 and len(where) == 3, where
        assert any("curtailment" in e for e in await r.events("chat"))

    run(tmp_path, scenario)


def test_a_restarted_reconciler_adopts_what_agents_run(tmp_path: Path) -> None:
    async def scenario(r: Rig) -> None:
        await r.add_node("fra-1", "fra", carbon=20)
        await r.add_node("par-1", "par", carbon=300)
        await r.apply("chat", 3)
        await r.settle()
        before = {x.name for x in await r.replicas()}
        # A new leader: the same store, an empty table that agents have not reached yet.
        fresh = Rig(r.objects.store, InventoryTable(interval_s=1.0), InlinePlacer())
        for node in await fresh.objects.list_of(Node):
            fresh.table.upsert(node)
        await fresh.reconciler.reconcile()
        assert {x.name for x in await fresh.replicas()} == before, "within the grace period"
        assert not fresh.agents.deploys
        fresh.connect("fra-1")
        running, forgotten = sorted(before)[:2], sorted(before)[2]
        reports = [ReplicaReport(n, ReplicaPhase.RUNNING, "", "fake://fra-1") for n in running]
        await fresh.reconciler.on_hello("fra-1", reports)
        assert [d.name for d in fresh.agents.deploys] == [forgotten], "only the missing one"
        fresh.clock.advance(CONFIG.node_grace_s)  # par-1 never comes back: it held none
        await fresh.settle()
        assert {x.name for x in await fresh.replicas()} == before
        assert await fresh.where() == ["fra-1"] * 3

    run(tmp_path, scenario)


def test_a_failing_phase_is_counted_and_the_next_phase_runs(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(tmp_path, FailingPlacer()) as r:
            await r.add_node("fra-1", "fra")
            await r.apply("chat", 1)
            await r.reconciler.reconcile()
            assert r.reconciler.phase_failures == {"place": 1}
            status = (await r.deployment("chat")).status
            assert status is not None and status.desired_replicas == 1, "status phase ran"
            await r.reconciler.reconcile()
            assert r.reconciler.passes == 2 and r.reconciler.phase_failures == {"place": 2}

    asyncio.run(main())

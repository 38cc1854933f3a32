"""The reconciler: makes the replicas that run match the deployments that are wanted.

One loop, woken by changes (an apply, a node lost, a replica state) and by a
tick. Each pass reads the desired state (deployments) and the observed state
(replicas, the live inventory) afresh, decides with pure functions (plan.py,
the scheduler), then acts through the store and the agents' streams. It runs as
numbered phases, each guarded, timed and counted: a phase that fails is logged
and the next one runs. Every action is idempotent, so a pass cut short by a
crash is simply done again.

It sees the world only through its own seams (world.py): a read-only
`Inventory`, `AgentCommands` and plain `ReplicaReport`s, never wire types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from opentelemetry import metrics, trace

from controlplane.errors import NotFound, Timeout
from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.objects import ObjectStore, now_rfc3339
from controlplane.reconciler import curtailment
from controlplane.reconciler.accounting import Bound, charge
from controlplane.reconciler.placer import PlaceJob, Placer
from controlplane.reconciler.plan import (
    Actions,
    MoveRequest,
    decide,
    replan_view,
    replica_views,
)
from controlplane.reconciler.world import AgentCommands, Inventory
from controlplane.resources import (
    Condition,
    Curtailment,
    CurtailmentSpec,
    CurtailmentStatus,
    ModelDeployment,
    ModelDeploymentStatus,
    ObjectMeta,
    PlacementExplanation,
    Replica,
    ReplicaResources,
    ReplicaSpec,
    ReplicaStatus,
    ReplicaSummary,
    Route,
)
from controlplane.resources.event import ObjectReference
from controlplane.resources.replica import ReplicaReport
from controlplane.resources.wellknown import (
    ACTIVE_PHASES,
    DEPLOYMENT_LABEL,
    REPLACES_ANNOTATION,
    SERVING,
    ReplicaPhase,
)
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.geo import UnknownRegionError
from controlplane.scheduler.pipeline import Placement, Unschedulable
from controlplane.scheduler.replan import DeploymentReplicas
from controlplane.scheduler.request import request_from_deployment
from controlplane.scheduler.routes import assign_routes
from controlplane.tracing import reconcile_pass

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("tokenplane.scheduler")
T = TypeVar("T")

Outcome = list[Placement] | Unschedulable


@dataclass(frozen=True)
class ReconcilerConfig:
    tick_s: float = 1.0
    replan_interval_s: float = 10.0  # how often to follow the energy
    max_moves_per_replan: int = 5  # optional moves per re-plan (hysteresis does the rest)
    max_concurrent_moves: int = 5  # make-before-break moves in flight at once (drain, re-plan)
    # After a restart or fail-over, nodes not yet reconnected are Unknown, not lost,
    # for this long: their agents are on their way back (reconnect backoff), and
    # their replicas still run. A node that stays away is lost after it.
    node_grace_s: float = 15.0


@dataclass(frozen=True)
class World:
    """What one pass observed: desired and actual state, read once at its start."""

    deployments: list[ModelDeployment]
    replicas: list[Replica]
    by_deployment: dict[str, list[Replica]]
    snapshot: FleetSnapshot  # charged with replicas not yet in telemetry
    ready_nodes: frozenset[str]  # Ready, or Unknown within the grace period
    connected_nodes: frozenset[str]
    # Much of the fleet silent at once: likelier our fault than theirs (liveness.py).
    suspect_self: bool = False


def _ref(kind: str, name: str) -> ObjectReference:
    return ObjectReference(kind=kind, name=name)


def _summary(explanation: PlacementExplanation) -> str:
    return (
        f"rtt {explanation.rtt_ms:.0f} ms, carbon {explanation.carbon_g_per_kwh:.0f} g/kWh, "
        f"renewable {explanation.renewable_share:.0%}, headroom {explanation.headroom_kw:.0f} kW"
    )


class Reconciler:
    def __init__(
        self,
        *,
        objects: ObjectStore,
        inventory: Inventory,
        agents: AgentCommands,
        placer: Placer,
        config: ReconcilerConfig = ReconcilerConfig(),
        clock: Callable[[], float] = time.monotonic,
        event_clock: Callable[[], float] = time.time,
    ) -> None:
        self._objects = objects
        self._inventory = inventory
        self._agents = agents
        self._placer = placer
        self._config = config
        self._clock = clock
        self._event_clock = event_clock  # Unix seconds, simulated under `tpctl up`
        self._curtailments_seen: dict[str, float] = {}  # name -> event-clock time of last pass
        self._wake = asyncio.Event()
        self._passed = asyncio.Event()  # set, then replaced, at the end of every pass
        self._moves: dict[str, MoveRequest] = {}
        self._last_replan = clock()
        self._started = clock()
        self.passes = 0
        self.phase_failures: Counter[str] = Counter()
        self.replicas_by_phase: dict[str, int] = {}
        self._by_node: dict[str, list[str]] = {}
        meter = metrics.get_meter("tokenplane.scheduler")
        self._placement_s = meter.create_histogram(
            "tokenplane_placement_duration",
            unit="s",
            description="Time to place one deployment's replicas, per replica",
        )
        self._placed = meter.create_counter("tokenplane_replicas_placed")
        self._phase_s = meter.create_histogram(
            "tokenplane_reconcile_phase_duration",
            unit="s",
            description="Time of one phase of a reconcile pass",
        )
        self._passes_done = meter.create_counter(
            "tokenplane_reconcile_passes", description="Reconcile passes finished"
        )
        self._phase_failed = meter.create_counter(
            "tokenplane_reconcile_phase_failures",
            description="Reconcile phases that raised (logged; the next phase ran)",
        )

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever: a pass on every wake-up or tick."""
        self._started = self._last_replan = self._clock()  # leadership starts now
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.tick_s)
            self._wake.clear()
            started_s = loop.time()
            with reconcile_pass(lambda: sum(self.phase_failures.values())):
                await self.reconcile()
            # Rest as long as the pass took: wake-ups (every agent's Hello in a join
            # storm) then cost this loop at most half its time, whatever the fleet's size.
            await asyncio.sleep(loop.time() - started_s)

    async def wait_for_pass(self) -> None:
        """Returns when the next pass has finished."""
        await self._passed.wait()

    # -- the pass -----------------------------------------------------------------------

    async def reconcile(self) -> None:
        """One pass, as numbered phases; each failure is logged and counted."""
        self.passes += 1
        try:
            lowered_kw = await self._phase(0, "curtail", self._curtail) or {}
            world = await self._phase(1, "observe", lambda: self._observe(lowered_kw))
            if world is None:
                return  # nothing to decide on; the next pass reads again
            await self._phase(2, "orphans", lambda: self._stop_orphans(world))
            # No re-plan while the control plane suspects itself: its snapshot shows the
            # silent nodes NotReady, and the re-plan would move replicas still running.
            if not world.suspect_self and self._replan_due():
                await self._phase(3, "replan", lambda: self._replan(world))
            actions = await self._phase(4, "plan", lambda: self._plan(world)) or []
            await self._phase(5, "act", lambda: self._act(world, actions))
            outcome = await self._phase(6, "place", lambda: self._place(world, actions))
            await self._phase(7, "status", lambda: self._status(world, outcome or {}))
        finally:
            self._passes_done.add(1)
            self._passed.set()
            self._passed = asyncio.Event()

    async def _phase(self, number: int, name: str, step: Callable[[], Awaitable[T]]) -> T | None:
        start = time.perf_counter()
        try:
            return await step()
        except Exception:
            self.phase_failures[name] += 1
            self._phase_failed.add(1, {"phase": name})
            log.exception("reconcile phase %d (%s) failed; going on", number, name)
            return None
        finally:
            self._phase_s.record(time.perf_counter() - start, {"phase": name})

    async def _curtail(self) -> dict[str, float]:
        """Start, account and end curtailment events; the budgets of those active."""
        events = await self._objects.list_of(Curtailment)
        signals_kw = self._inventory.demand_response_kw()
        if not events and not signals_kw:
            self._curtailments_seen.clear()
            return {}
        now_s = self._event_clock()
        if await self._follow_feeds(curtailment.follow_signals(events, signals_kw, now_s)):
            events = await self._objects.list_of(Curtailment)
        snapshot = self._inventory.snapshot()
        rows = {str(name): row for row, name in enumerate(snapshot.names)}
        current = []
        for event in events:
            row = rows.get(event.spec.node_name)
            status, notices = curtailment.step(
                event,
                now_s=now_s,
                draw_kw=None if row is None else float(snapshot.it_draw_kw[row]),
                budget_kw=None if row is None else float(snapshot.budget_kw[row]),
                since_s=self._curtailments_seen.get(event.name),
            )
            self._curtailments_seen[event.name] = now_s
            if curtailment.worth_writing(event.status, status):
                with contextlib.suppress(NotFound):  # deleted meanwhile: its budget is gone too
                    await self._objects.update("Curtailment", event.name, _set_status(status))
            event.status = status
            current.append(event)
            for notice in notices:
                if notice.reason == curtailment.STARTED:
                    self._last_replan = -math.inf  # shed now, not at the next re-plan
                for ref in (_ref("Curtailment", event.name), _ref("Node", event.spec.node_name)):
                    await self._objects.record_event(
                        ref, notice.reason, notice.message, source="reconciler"
                    )
        names = {e.name for e in events}
        for gone in set(self._curtailments_seen) - names:
            del self._curtailments_seen[gone]
        return curtailment.budgets(current)

    async def _follow_feeds(self, changes: curtailment.FeedChanges) -> bool:
        """Open, re-budget and end the feeds' own Curtailments; whether any changed."""
        for node, budget_kw in changes.create:
            await self._objects.create(
                Curtailment(
                    metadata=ObjectMeta(name=f"{node}-dr-{secrets.token_hex(3)}"),
                    spec=CurtailmentSpec(
                        node_name=node,
                        budget_kw=budget_kw,
                        duration_seconds=curtailment.FEED_MAX_SECONDS,
                        reason=curtailment.FEED_REASON,
                        requested_by=curtailment.feed_requester(node),
                    ),
                )
            )
        if changes.rebudget:
            self._last_replan = -math.inf  # a lower signal sheds now
        for name, budget_kw in changes.rebudget:
            with contextlib.suppress(NotFound):
                await self._objects.update("Curtailment", name, _set_spec(budget_kw=budget_kw))
        for name, lasted_s in changes.end:
            with contextlib.suppress(NotFound):
                await self._objects.update(
                    "Curtailment", name, _set_spec(duration_seconds=lasted_s)
                )
        for name in changes.drop:
            with contextlib.suppress(NotFound):
                await self._objects.delete("Curtailment", name)
        return bool(changes.create or changes.rebudget or changes.end or changes.drop)

    async def _observe(self, lowered_kw: dict[str, float]) -> World:
        deployments = await self._objects.list_of(ModelDeployment)
        replicas = await self._objects.list_of(Replica)
        nodes = {r.spec.node_name for r in replicas if r.spec.node_name}
        in_grace = self._clock() - self._started < self._config.node_grace_s
        inventory = self._inventory
        # Much of the fleet silent at once: the control plane suspects itself (liveness.py)
        # and takes every node for Ready, so that it replaces no replica meanwhile.
        suspect = inventory.suspect_self(self._clock())
        return World(
            deployments=deployments,
            replicas=replicas,
            by_deployment=_by_deployment(replicas),
            snapshot=charge(
                curtailment.with_budgets(inventory.snapshot(), lowered_kw), _bound(replicas)
            ),
            ready_nodes=frozenset(
                n
                for n in nodes
                if suspect or inventory.node_ready(n) or (in_grace and not inventory.node_seen(n))
            ),
            connected_nodes=frozenset(n for n in nodes if self._agents.connected(n)),
            suspect_self=suspect,
        )

    async def _stop_orphans(self, world: World) -> None:
        wanted = {d.name for d in world.deployments}
        for name, orphans in world.by_deployment.items():
            if name not in wanted:
                for r in orphans:
                    await self._terminate(r, "DeploymentDeleted")

    def _replan_due(self) -> bool:
        settled = self._clock() - self._started >= self._config.node_grace_s
        if settled and self._clock() - self._last_replan >= self._config.replan_interval_s:
            self._last_replan = self._clock()
            return True
        return False

    async def _replan(self, world: World) -> None:
        """Follow the energy: queue the moves that pass the hysteresis, within the budget."""
        groups = []
        for d in world.deployments:
            replicas = world.by_deployment.get(d.name, [])
            movable, settling = replan_view(replica_views(replicas, world.ready_nodes), self._moves)
            groups.append(DeploymentReplicas(request_from_deployment(d), movable, settling))
        moves = await self._placer.replan(
            world.snapshot, [g for g in groups if g.replicas], self._config.max_moves_per_replan
        )
        for move in moves:
            if move.replica in self._moves:
                continue
            self._moves[move.replica] = MoveRequest(
                move.reason, move.to_node, move.explanation, stop=move.to_node is None
            )
            await self._objects.record_event(
                _ref("ModelDeployment", move.deployment),
                "Rebalancing",
                f"moving {move.replica} off {move.from_node}"
                + (f" to {move.to_node}" if move.to_node else "")
                + f": {move.reason}",
                source="scheduler",
            )

    async def _plan(self, world: World) -> list[Actions]:
        """Pure: every deployment's actions for this pass, from what was observed."""
        return [
            decide(
                d,
                world.by_deployment.get(d.name, []),
                ready_nodes=world.ready_nodes,
                connected_nodes=world.connected_nodes,
                moves=self._moves,
                max_concurrent_moves=self._config.max_concurrent_moves,
            )
            for d in world.deployments
        ]

    async def _act(self, world: World, actions: Sequence[Actions]) -> None:
        """Everything but placement: forget the lost, finish moves, scale down, direct moves."""
        for a in actions:
            for r in a.forget:
                self._moves.pop(r.name, None)
                await self._forget(r)
            for r in a.finish_moves:
                self._moves.pop(r.name, None)
                await self._terminate(r, "Moved")
            for r in a.delete:
                await self._delete(r)  # its agent stops it as an orphan when it reconnects
            for r in a.stops:
                self._moves.pop(r.name, None)
                await self._terminate(r, "Shed")
            if a.excess:
                victims = await self._placer.scale_down(
                    world.snapshot, DeploymentReplicas(a.request, a.candidates), a.excess
                )
                by_name = {r.name: r for r in world.by_deployment[a.deployment.name]}
                for name in victims:
                    await self._terminate(by_name[name], "ScaledDown")
            for move in a.direct_moves:
                await self._create(
                    a.deployment,
                    move.to_node,
                    move.explanation,
                    move.explanation.gpu_model,
                    replaces=move.old,
                )

    async def _place(self, world: World, actions: Sequence[Actions]) -> dict[str, Outcome]:
        """One placement call for the whole pass, traced and timed; then bind what it chose."""
        jobs: list[tuple[Actions, PlaceJob, str | None]] = []
        for a in actions:
            if a.to_place:
                jobs.append((a, PlaceJob(a.request, a.to_place, a.existing), None))
            jobs += [(a, PlaceJob(a.request, 1, a.existing), old) for old in a.placed_moves]
        if not jobs:
            return {}
        results = await self._placed_by_placer(world.snapshot, [job for _, job, _ in jobs])
        outcome: dict[str, Outcome] = {}
        for (a, _, replaces), result in zip(jobs, results, strict=True):
            await self._bind(a.deployment, result, replaces)
            if replaces is None:
                outcome[a.deployment.name] = result
        return outcome

    async def _placed_by_placer(
        self, snapshot: FleetSnapshot, jobs: list[PlaceJob]
    ) -> list[Outcome]:
        replicas = sum(job.n_replicas for job in jobs)
        with _tracer.start_as_current_span(
            "scheduler.place",
            attributes={
                "tokenplane.nodes": len(snapshot),
                "tokenplane.replicas": replicas,
                "tokenplane.deployments": sorted({j.request.deployment for j in jobs}),
            },
        ) as span:
            start = time.perf_counter()
            results = await self._placer.place(snapshot, jobs)
            elapsed = time.perf_counter() - start
            placed = sum(len(r.placed) if isinstance(r, Unschedulable) else len(r) for r in results)
            span.set_attribute("tokenplane.placed", placed)
        if replicas:
            self._placement_s.record(elapsed / replicas)
        self._placed.add(placed)
        return results

    async def _status(self, world: World, outcome: dict[str, Outcome]) -> None:
        replicas = await self._objects.list_of(Replica)
        by_deployment = _by_deployment(replicas)
        self.replicas_by_phase = dict(Counter(r.status.phase.value for r in replicas))
        by_node: dict[str, list[str]] = defaultdict(list)
        for r in replicas:
            by_node[r.spec.node_name].append(r.name)
        self._by_node = dict(by_node)
        index = FleetIndex(world.snapshot)
        for deployment in world.deployments:
            mine = by_deployment.get(deployment.name, [])
            routes, attainment = _routes(index, deployment, mine)
            await self._update_status(
                deployment, mine, outcome.get(deployment.name), routes, attainment
            )

    def replicas_on(self, node: str) -> list[str]:
        """The replicas bound to `node` as of the last pass (for the node's status)."""
        return sorted(self._by_node.get(node, []))

    # -- actions (each idempotent) -------------------------------------------------------

    async def _bind(
        self,
        deployment: ModelDeployment,
        result: Outcome,
        replaces: str | None,
    ) -> None:
        placed = result.placed if isinstance(result, Unschedulable) else tuple(result)
        for p in placed:
            await self._create(deployment, p.node, p.explanation, p.gpu_model, replaces=replaces)
        if isinstance(result, Unschedulable):
            what = f"move of {replaces}" if replaces else f"{result.missing} replica(s)"
            await self._objects.record_event(
                _ref("ModelDeployment", deployment.name),
                "FailedScheduling",
                f"{what}: {result.message}",
                type_="Warning",
                source="scheduler",
            )

    async def _create(
        self,
        deployment: ModelDeployment,
        node: str,
        explanation: PlacementExplanation,
        gpu_model: str,
        *,
        replaces: str | None,
    ) -> None:
        replica = Replica(
            metadata=ObjectMeta(
                name=f"{deployment.name}-{secrets.token_hex(3)}",
                labels={DEPLOYMENT_LABEL: deployment.name},
                annotations={REPLACES_ANNOTATION: replaces} if replaces else {},
            ),
            spec=ReplicaSpec(
                deployment=deployment.name,
                node_name=node,
                model=deployment.spec.model,
                resources=ReplicaResources(
                    **{**deployment.spec.resources.model_dump(), "gpu_model": gpu_model}
                ),
            ),
            status=ReplicaStatus(
                phase=ReplicaPhase.SCHEDULED, placement=explanation, start_time=now_rfc3339()
            ),
        )
        replica = await self._objects.create(replica)
        await self._objects.record_event(
            _ref("ModelDeployment", deployment.name),
            "Scheduled",
            f"{replica.name} on {node}"
            + (f" (replacing {replaces})" if replaces else "")
            + f": {_summary(explanation)}; {explanation.message}",
            source="scheduler",
        )
        await self._agents.deploy(replica)

    async def _terminate(self, replica: Replica, reason: str) -> None:
        """Stop a replica: Terminating until its agent says it stopped (or is gone)."""
        if replica.status.phase != ReplicaPhase.TERMINATING:

            def terminating(r: Replica) -> Replica:
                r.status.phase, r.status.message = ReplicaPhase.TERMINATING, reason
                return r

            try:
                replica = await self._objects.update("Replica", replica.name, terminating)
            except NotFound:
                return
            await self._objects.record_event(
                _ref("ModelDeployment", replica.spec.deployment),
                reason,
                f"stopping {replica.name} on {replica.spec.node_name}",
                source="reconciler",
            )
        if self._agents.connected(replica.spec.node_name):
            await self._agents.undeploy(replica.spec.node_name, replica.name)
        else:
            await self._delete(replica)

    async def _forget(self, replica: Replica) -> None:
        """A replica on a lost node, or failed: replaced now; its agent cleans up if it returns."""
        failed = replica.status.phase == ReplicaPhase.FAILED
        reason = "ReplicaFailed" if failed else "NodeLost"
        await self._objects.record_event(
            _ref("ModelDeployment", replica.spec.deployment),
            reason,
            f"{replica.name} on {replica.spec.node_name} is {reason}; placing a replacement",
            type_="Warning",
            source="reconciler",
        )
        if self._agents.connected(replica.spec.node_name):
            await self._agents.undeploy(replica.spec.node_name, replica.name)
        await self._delete(replica)

    async def _delete(self, replica: Replica) -> None:
        with contextlib.suppress(NotFound):
            await self._objects.delete("Replica", replica.name)

    # -- status --------------------------------------------------------------------------

    async def _update_status(
        self,
        deployment: ModelDeployment,
        replicas: list[Replica],
        outcome: Outcome | None,
        routes: list[Route],
        attainment: float | None,
    ) -> None:
        active = [r for r in replicas if r.status.phase in ACTIVE_PHASES]
        ready = sum(1 for r in active if r.status.phase == ReplicaPhase.RUNNING)
        desired = deployment.spec.replicas
        previous = deployment.status or ModelDeploymentStatus()
        unschedulable = next((c for c in previous.conditions if c.type == "Unschedulable"), None)
        if isinstance(outcome, Unschedulable):
            unschedulable = Condition(
                type="Unschedulable",
                status="True",
                reason="FailedScheduling",
                message=outcome.message,
                last_transition_time=now_rfc3339(),
            )
        elif outcome is not None or len(active) >= desired:
            unschedulable = None
        available = Condition(
            type="Available",
            status="True" if ready >= desired else "False",
            reason="AllReplicasRunning" if ready >= desired else "ReplicasNotRunning",
            message=f"{ready}/{desired} replicas running",
        )
        status = ModelDeploymentStatus(
            ready_replicas=ready,
            desired_replicas=desired,
            observed_generation=deployment.metadata.generation,
            replicas=[
                ReplicaSummary(
                    name=r.name,
                    node=r.spec.node_name,
                    phase=r.status.phase,
                    endpoint=r.status.endpoint,
                    placement=r.status.placement,
                )
                for r in sorted(replicas, key=lambda r: r.name)
            ],
            conditions=[
                available,
                *([unschedulable] if unschedulable else []),
                *_slo_condition(deployment, routes, attainment),
            ],
            routes=routes,
            attainment=attainment,
        )
        if _same_status(previous, status):
            return

        def set_status(d: ModelDeployment) -> ModelDeployment:
            for c in status.conditions:
                old = next((o for o in (d.status or previous).conditions if o.type == c.type), None)
                c.last_transition_time = (
                    old.last_transition_time
                    if old and old.status == c.status and old.last_transition_time
                    else now_rfc3339()
                )
            d.status = status
            return d

        with contextlib.suppress(NotFound):
            await self._objects.update("ModelDeployment", deployment.name, set_status)

    # -- inputs from agents and the Fleet API ---------------------------------------------

    async def on_hello(self, node: str, reports: Sequence[ReplicaReport]) -> None:
        """Converge with what a (re)connected agent actually runs."""
        reported = {r.name for r in reports}
        for report in reports:
            await self.on_replica_state(node, report)
        for r in await self._bound_to(node):
            if r.name not in reported:
                if r.status.phase in ACTIVE_PHASES:
                    await self._agents.deploy(r)  # it never got the command, or lost the replica
                elif r.status.phase == ReplicaPhase.TERMINATING:
                    await self._delete(r)  # already gone there
        self.wake()

    async def _bound_to(self, node: str) -> list[Replica]:
        """The node's replicas: from the last pass's index (a fleet reconnecting after a
        restart must not list every replica once per node), or the store before it."""
        if not self.passes:
            return [r for r in await self._objects.list_of(Replica) if r.spec.node_name == node]
        found = [await self._objects.get("Replica", name) for name in self.replicas_on(node)]
        return [r for r in found if isinstance(r, Replica) and r.spec.node_name == node]

    async def on_replica_state(self, node: str, report: ReplicaReport) -> None:
        replica = await self._objects.get("Replica", report.name)
        if not isinstance(replica, Replica) or replica.spec.node_name != node:
            if report.phase != ReplicaPhase.STOPPED:
                await self._agents.undeploy(node, report.name)  # an orphan: nobody wants it
            return
        if report.phase == ReplicaPhase.STOPPED:
            if replica.status.phase == ReplicaPhase.TERMINATING:
                await self._delete(replica)
            else:
                message = report.message or "stopped by agent"
                await self._set_phase(replica.name, ReplicaPhase.FAILED, message)
        elif (
            report.phase in (ReplicaPhase.STARTING, ReplicaPhase.RUNNING, ReplicaPhase.FAILED)
            and replica.status.phase != ReplicaPhase.TERMINATING
        ):
            await self._set_phase(replica.name, report.phase, report.message, report.endpoint)
        self.wake()

    async def _set_phase(
        self, name: str, phase: ReplicaPhase, message: str, endpoint: str = ""
    ) -> None:
        def set_phase(r: Replica) -> Replica | None:
            if (r.status.phase, r.status.endpoint, r.status.message) == (phase, endpoint, message):
                return None
            r.status.phase, r.status.endpoint, r.status.message = phase, endpoint, message
            return r

        with contextlib.suppress(NotFound):
            await self._objects.update("Replica", name, set_phase)

    async def drain(self, node: str, timeout_s: float) -> list[str]:
        """Moves every replica off `node`, make-before-break; returns what moved where.

        Checks after each reconcile pass, the only thing that moves replicas."""
        targets = {
            r.name
            for r in await self._objects.list_of(Replica)
            if r.spec.node_name == node and r.status.phase in ACTIVE_PHASES
        }
        for name in targets:
            self._moves.setdefault(name, MoveRequest("drain"))
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    replicas = await self._objects.list_of(Replica)
                    if not targets & {r.name for r in replicas if r.spec.node_name == node}:
                        return [
                            f"{old} -> {r.name}@{r.spec.node_name}"
                            for r in replicas
                            if (old := r.metadata.annotations.get(REPLACES_ANNOTATION, ""))
                            in targets
                        ]
                    passed = self._passed
                    self.wake()
                    await passed.wait()
        except TimeoutError:
            raise Timeout(f"drain of {node}: replicas still there after {timeout_s:.0f}s") from None


def _by_deployment(replicas: Sequence[Replica]) -> dict[str, list[Replica]]:
    grouped: dict[str, list[Replica]] = defaultdict(list)
    for r in replicas:
        grouped[r.spec.deployment].append(r)
    return dict(grouped)


def _bound(replicas: Sequence[Replica]) -> list[Bound]:
    return [
        Bound(
            r.spec.node_name,
            r.status.phase,
            r.spec.resources.gpu_model,
            r.spec.resources.gpus,
            r.spec.resources.power_kw,
        )
        for r in replicas
        if r.spec.node_name and r.status.phase != ReplicaPhase.FAILED
    ]


def _routes(
    index: FleetIndex, deployment: ModelDeployment, replicas: Sequence[Replica]
) -> tuple[list[Route], float | None]:
    """Which replica serves each demand point, for gateways (Watch streams the status).

    Only Running replicas carry routes, so a move switches traffic when the new
    replica runs, before the old one stops (make-before-break)."""
    running = [(r.name, r.spec.node_name) for r in replicas if r.status.phase == SERVING]
    try:
        table = assign_routes(index, request_from_deployment(deployment), running)
    except UnknownRegionError as e:
        log.warning("no routes for %s: %s", deployment.name, e)
        return [], None
    routes = [
        Route(
            demand=a.demand,
            replica=a.replica,
            node=a.node,
            share=a.share,
            rtt_ms=round(a.rtt_ms, 1),  # no status write for sub-0.1 ms jitter
            rtt_source="measured" if a.measured else "estimated",
            within_slo=a.within_slo,
        )
        for a in table.routes
    ]
    return routes, table.attainment


def _same_status(a: ModelDeploymentStatus, b: ModelDeploymentStatus) -> bool:
    strip = {"conditions": {"__all__": {"last_transition_time"}}}
    return a.model_dump(exclude=strip) == b.model_dump(exclude=strip)


def _slo_condition(
    deployment: ModelDeployment, routes: list[Route], attainment: float | None
) -> list[Condition]:
    """`LatencySLO`: whether every user's route is within the SLO, and who is beyond it."""
    slo = deployment.spec.latency_slo_ms
    if slo is None or attainment is None or not routes:
        return []
    beyond = sorted({(r.demand, r.rtt_ms) for r in routes if not r.within_slo}, key=lambda x: -x[1])
    if not beyond:
        message = f"all demand within {slo:g} ms"
    else:
        names = ", ".join(f"{name} ({rtt:.0f} ms)" for name, rtt in beyond[:5])
        more = f" and {len(beyond) - 5} more" if len(beyond) > 5 else ""
        message = f"{attainment:.1%} of demand within {slo:g} ms; beyond it: {names}{more}"
    return [
        Condition(
            type="LatencySLO",
            status="False" if beyond else "True",
            reason="DemandBeyondSLO" if beyond else "AllDemandWithinSLO",
            message=message,
        )
    ]


def _set_spec(**changes: float) -> Callable[[Curtailment], Curtailment]:
    def mutate(event: Curtailment) -> Curtailment:
        event.spec = event.spec.model_copy(update=changes)
        return event

    return mutate


def _set_status(status: CurtailmentStatus) -> Callable[[Curtailment], Curtailment]:
    def mutate(event: Curtailment) -> Curtailment:
        event.status = status
        return event

    return mutate

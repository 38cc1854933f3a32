"""The reconciler: makes the replicas that run match the deployments that are wanted.

One loop, woken by changes (an apply, a node lost, a replica state) and by a
tick. Each pass reads the desired state (deployments) and the observed state
(replicas, the live inventory) afresh, decides with pure functions (plan.py,
the scheduler), and acts through the store and the agents' streams. Every
action is idempotent, so a pass cut short by a crash is simply done again; a
phase that fails is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry import metrics, trace

from controlplane.api.agent import AgentHub
from controlplane.errors import NotFound, Timeout
from controlplane.inventory import InventoryTable
from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.objects import ObjectStore, now_rfc3339
from controlplane.reconciler.accounting import Bound, charge
from controlplane.reconciler.placer import PlaceJob, Placer
from controlplane.reconciler.plan import (
    ACTIVE_PHASES,
    REPLACES,
    ReplicaView,
    plan_deployment,
)
from controlplane.resources import (
    Condition,
    ModelDeployment,
    ModelDeploymentStatus,
    ObjectMeta,
    PlacementExplanation,
    Replica,
    ReplicaResources,
    ReplicaSpec,
    ReplicaStatus,
    ReplicaSummary,
)
from controlplane.resources.codec import to_message
from controlplane.resources.event import ObjectReference
from controlplane.scheduler.pipeline import Placement, Unschedulable
from controlplane.scheduler.replan import DeploymentReplicas, RunningReplica
from controlplane.scheduler.request import request_from_deployment
from tokenplane.v1 import agent_pb2

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("tokenplane.scheduler")


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
class MoveRequest:
    reason: str
    to_node: str | None = None
    explanation: PlacementExplanation | None = None


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
        table: InventoryTable,
        hub: AgentHub,
        placer: Placer,
        config: ReconcilerConfig = ReconcilerConfig(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._objects = objects
        self._table = table
        self._hub = hub
        self._placer = placer
        self._config = config
        self._clock = clock
        self._wake = asyncio.Event()
        self._moves: dict[str, MoveRequest] = {}
        self._last_replan = clock()
        self._started = clock()
        self.passes = 0
        self.replicas_by_phase: dict[str, int] = {}
        self._by_node: dict[str, list[str]] = {}
        meter = metrics.get_meter("tokenplane.scheduler")
        self._placement_s = meter.create_histogram(
            "tokenplane_placement_duration",
            unit="s",
            description="Time to place one deployment's replicas, per replica",
        )
        self._placed = meter.create_counter("tokenplane_replicas_placed")

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever; a failed pass is logged and retried on the next tick."""
        self._started = self._last_replan = self._clock()  # leadership starts now
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.tick_s)
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconcile pass failed; retrying")

    # -- the pass -----------------------------------------------------------------------

    async def reconcile(self) -> None:
        self.passes += 1
        deployments = await self._objects.list_of(ModelDeployment)
        replicas = await self._objects.list_of(Replica)
        by_deployment = _by_deployment(replicas)
        wanted = {d.name for d in deployments}
        for name, orphans in by_deployment.items():
            if name not in wanted:
                for r in orphans:
                    await self._terminate(r, "DeploymentDeleted")
        snapshot = charge(self._table.snapshot(), self._bound(replicas))
        settled = self._clock() - self._started >= self._config.node_grace_s
        if settled and self._clock() - self._last_replan >= self._config.replan_interval_s:
            self._last_replan = self._clock()
            await self._replan(snapshot, deployments, by_deployment)
        jobs: list[tuple[ModelDeployment, PlaceJob, str | None]] = []
        for deployment in deployments:
            jobs += await self._plan(deployment, by_deployment[deployment.name], snapshot)
        results = await self._place(snapshot, [job for _, job, _ in jobs]) if jobs else []
        outcome: dict[str, list[Placement] | Unschedulable] = {}
        for (deployment, job, replaces), result in zip(jobs, results, strict=True):
            await self._bind(deployment, job, result, replaces)
            if replaces is None:
                outcome[deployment.name] = result
        replicas = await self._objects.list_of(Replica)
        by_deployment = _by_deployment(replicas)
        self.replicas_by_phase = dict(Counter(r.status.phase for r in replicas))
        by_node: dict[str, list[str]] = defaultdict(list)
        for r in replicas:
            by_node[r.spec.node_name].append(r.name)
        self._by_node = dict(by_node)
        for deployment in deployments:
            await self._update_status(
                deployment, by_deployment[deployment.name], outcome.get(deployment.name)
            )

    async def _place(
        self, snapshot: FleetSnapshot, jobs: list[PlaceJob]
    ) -> list[list[Placement] | Unschedulable]:
        """One placement call for the whole pass, traced and timed."""
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

    def replicas_on(self, node: str) -> list[str]:
        """The replicas bound to `node` as of the last pass (for the node's status)."""
        return sorted(self._by_node.get(node, []))

    def _bound(self, replicas: Sequence[Replica]) -> list[Bound]:
        return [
            Bound(
                r.spec.node_name,
                r.status.phase,
                r.spec.resources.gpu_model,
                r.spec.resources.gpus,
                r.spec.resources.power_kw,
            )
            for r in replicas
            if r.spec.node_name and r.status.phase != "Failed"
        ]

    def _ready(self, node: str) -> bool:
        """Ready, or Unknown within the grace period after this replica took over."""
        if node not in self._table:
            return False
        slot = self._table.slot(node)
        in_grace = self._clock() - self._started < self._config.node_grace_s
        return bool(self._table.ready[slot] or (in_grace and not self._table.seen[slot]))

    def _views(self, replicas: Sequence[Replica]) -> list[ReplicaView]:
        return [
            ReplicaView(
                r.name,
                r.spec.node_name,
                r.status.phase,
                self._ready(r.spec.node_name),
                r.metadata.annotations.get(REPLACES, ""),
            )
            for r in replicas
        ]

    async def _plan(
        self, deployment: ModelDeployment, replicas: list[Replica], snapshot: FleetSnapshot
    ) -> list[tuple[ModelDeployment, PlaceJob, str | None]]:
        plan = plan_deployment(deployment.spec.replicas, self._views(replicas))
        by_name = {r.name: r for r in replicas}
        for name in plan.lost:
            await self._forget(by_name[name])
        for name in plan.finish_moves:
            self._moves.pop(name, None)
            await self._terminate(by_name[name], "Moved")
        for r in replicas:
            if r.status.phase == "Terminating" and not self._hub.connected(r.spec.node_name):
                await self._delete(r)  # its agent stops it as an orphan when it reconnects
        live = [r for r in replicas if r.name not in plan.lost and r.status.phase in ACTIVE_PHASES]
        request = request_from_deployment(deployment)
        if plan.excess:
            victims = await self._placer.scale_down(
                snapshot,
                DeploymentReplicas(
                    request,
                    tuple(
                        RunningReplica(r.name, r.spec.node_name)
                        for r in live
                        if r.name not in plan.moving
                    ),
                ),
                plan.excess,
            )
            for name in victims:
                await self._terminate(by_name[name], "ScaledDown")
        existing = tuple(r.spec.node_name for r in live)
        jobs: list[tuple[ModelDeployment, PlaceJob, str | None]] = []
        if plan.to_place:
            jobs.append((deployment, PlaceJob(request, plan.to_place, existing), None))
        in_flight = len(plan.moving)
        for r in live:
            move = self._moves.get(r.name)
            if move is None or r.name in plan.moving or r.name in plan.replacing:
                continue
            if in_flight >= self._config.max_concurrent_moves:
                break
            in_flight += 1
            if move.to_node is not None and move.explanation is not None:
                await self._create(deployment, move.to_node, move.explanation, replaces=r.name)
            else:
                jobs.append((deployment, PlaceJob(request, 1, existing), r.name))
        return jobs

    async def _replan(
        self,
        snapshot: FleetSnapshot,
        deployments: Sequence[ModelDeployment],
        by_deployment: dict[str, list[Replica]],
    ) -> None:
        """Follow the energy: queue the moves that pass the hysteresis, within the budget."""
        groups = []
        for d in deployments:
            replicas = by_deployment[d.name]
            plan = plan_deployment(d.spec.replicas, self._views(replicas))
            in_flight = plan.moving | plan.replacing
            groups.append(
                DeploymentReplicas(
                    request_from_deployment(d),
                    tuple(
                        RunningReplica(r.name, r.spec.node_name)
                        for r in replicas
                        if r.status.phase == "Running"
                        and r.name not in self._moves
                        and r.name not in in_flight
                    ),
                )
            )
        moves = await self._placer.replan(
            snapshot, [g for g in groups if g.replicas], self._config.max_moves_per_replan
        )
        for move in moves:
            if move.replica in self._moves:
                continue
            self._moves[move.replica] = MoveRequest(move.reason, move.to_node, move.explanation)
            await self._objects.record_event(
                _ref("ModelDeployment", move.deployment),
                "Rebalancing",
                f"moving {move.replica} off {move.from_node}"
                + (f" to {move.to_node}" if move.to_node else "")
                + f": {move.reason}",
                source="scheduler",
            )

    # -- actions (each idempotent) -------------------------------------------------------

    async def _bind(
        self,
        deployment: ModelDeployment,
        job: PlaceJob,
        result: list[Placement] | Unschedulable,
        replaces: str | None,
    ) -> None:
        placed = result.placed if isinstance(result, Unschedulable) else tuple(result)
        for p in placed:
            await self._create(deployment, p.node, p.explanation, replaces=replaces)
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
        *,
        replaces: str | None,
    ) -> None:
        snapshot_gpu_model = deployment.spec.resources.gpu_model or self._gpu_model_on(
            node, deployment.spec.resources.gpu_memory_gb
        )
        replica = Replica(
            metadata=ObjectMeta(
                name=f"{deployment.name}-{secrets.token_hex(3)}",
                labels={"tokenplane.io/deployment": deployment.name},
                annotations={REPLACES: replaces} if replaces else {},
            ),
            spec=ReplicaSpec(
                deployment=deployment.name,
                node_name=node,
                model=deployment.spec.model,
                resources=ReplicaResources(
                    **{**deployment.spec.resources.model_dump(), "gpu_model": snapshot_gpu_model}
                ),
            ),
            status=ReplicaStatus(
                phase="Scheduled", placement=explanation, start_time=now_rfc3339()
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
        await self._deploy(replica)

    def _gpu_model_on(self, node: str, memory_gb: float) -> str:
        """The GPU model a replica that accepts any model gets on `node`: the first that fits."""
        if node not in self._table:
            return ""
        slot = self._table.slot(node)
        for column, model in enumerate(self._table.gpu_models()):
            if (
                self._table.gpus_free[slot, column] > 0
                and self._table.gpu_memory_gb[slot, column] >= memory_gb
            ):
                return model
        return ""

    async def _deploy(self, replica: Replica) -> None:
        message = to_message(replica)
        await self._hub.command(
            replica.spec.node_name,
            lambda generation: agent_pb2.Command(
                generation=generation, deploy=agent_pb2.DeployReplica(replica=message)
            ),
        )

    async def _undeploy(self, node: str, name: str) -> None:
        await self._hub.command(
            node,
            lambda generation: agent_pb2.Command(
                generation=generation, undeploy=agent_pb2.UndeployReplica(name=name)
            ),
        )

    async def _terminate(self, replica: Replica, reason: str) -> None:
        """Stop a replica: Terminating until its agent says it stopped (or is gone)."""
        if replica.status.phase != "Terminating":

            def terminating(r: Replica) -> Replica:
                r.status.phase, r.status.message = "Terminating", reason
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
        if self._hub.connected(replica.spec.node_name):
            await self._undeploy(replica.spec.node_name, replica.name)
        else:
            await self._delete(replica)

    async def _forget(self, replica: Replica) -> None:
        """A replica on a lost node, or failed: replaced now; its agent cleans up if it returns."""
        reason = "NodeLost" if replica.status.phase != "Failed" else "ReplicaFailed"
        self._moves.pop(replica.name, None)
        await self._objects.record_event(
            _ref("ModelDeployment", replica.spec.deployment),
            reason,
            f"{replica.name} on {replica.spec.node_name} is {reason}; placing a replacement",
            type_="Warning",
            source="reconciler",
        )
        if self._hub.connected(replica.spec.node_name):
            await self._undeploy(replica.spec.node_name, replica.name)
        await self._delete(replica)

    async def _delete(self, replica: Replica) -> None:
        with contextlib.suppress(NotFound):
            await self._objects.delete("Replica", replica.name)

    # -- status --------------------------------------------------------------------------

    async def _update_status(
        self,
        deployment: ModelDeployment,
        replicas: list[Replica],
        outcome: list[Placement] | Unschedulable | None,
    ) -> None:
        active = [r for r in replicas if r.status.phase in ACTIVE_PHASES]
        ready = sum(1 for r in active if r.status.phase == "Running")
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
            conditions=[available, *([unschedulable] if unschedulable else [])],
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

    async def on_hello(self, node: str, states: Sequence[agent_pb2.ReplicaState]) -> None:
        """Converge with what a (re)connected agent actually runs."""
        reported = {s.name for s in states}
        for state in states:
            await self.on_replica_state(node, state)
        for r in await self._bound_to(node):
            if r.name not in reported:
                if r.status.phase in ACTIVE_PHASES:
                    await self._deploy(r)  # it never got the command, or lost the replica
                elif r.status.phase == "Terminating":
                    await self._delete(r)  # already gone there
        self.wake()

    async def _bound_to(self, node: str) -> list[Replica]:
        """The node's replicas: from the last pass's index (a fleet reconnecting after a
        restart must not list every replica once per node), or the store before it."""
        if not self.passes:
            return [r for r in await self._objects.list_of(Replica) if r.spec.node_name == node]
        found = [await self._objects.get("Replica", name) for name in self.replicas_on(node)]
        return [r for r in found if isinstance(r, Replica) and r.spec.node_name == node]

    async def on_replica_state(self, node: str, state: agent_pb2.ReplicaState) -> None:
        replica = await self._objects.get("Replica", state.name)
        wanted = isinstance(replica, Replica) and replica.spec.node_name == node
        if not wanted:
            if state.phase != "Stopped":
                await self._undeploy(node, state.name)  # an orphan: nobody wants it here
            return
        assert isinstance(replica, Replica)
        if state.phase == "Stopped":
            if replica.status.phase == "Terminating":
                await self._delete(replica)
            else:
                await self._set_phase(replica.name, "Failed", state.message or "stopped by agent")
        elif (
            state.phase in ("Starting", "Running", "Failed")
            and replica.status.phase != "Terminating"
        ):
            await self._set_phase(replica.name, state.phase, state.message, state.endpoint)
        self.wake()

    async def _set_phase(self, name: str, phase: str, message: str, endpoint: str = "") -> None:
        def set_phase(r: Replica) -> Replica | None:
            if (r.status.phase, r.status.endpoint, r.status.message) == (phase, endpoint, message):
                return None
            r.status.phase, r.status.endpoint, r.status.message = phase, endpoint, message  # type: ignore[assignment]
            return r

        with contextlib.suppress(NotFound):
            await self._objects.update("Replica", name, set_phase)

    async def drain(self, node: str, timeout_s: float) -> list[str]:
        """Moves every replica off `node`, make-before-break; returns what moved where."""
        targets = [
            r.name
            for r in await self._objects.list_of(Replica)
            if r.spec.node_name == node and r.status.phase in ACTIVE_PHASES
        ]
        for name in targets:
            self._moves.setdefault(name, MoveRequest("drain"))
        self.wake()
        deadline = self._clock() + timeout_s
        moved: list[str] = []
        while self._clock() < deadline:
            replicas = await self._objects.list_of(Replica)
            left = {r.name for r in replicas if r.spec.node_name == node}
            if not left & set(targets):
                for r in replicas:
                    old = r.metadata.annotations.get(REPLACES)
                    if old in targets:
                        moved.append(f"{old} -> {r.name}@{r.spec.node_name}")
                return moved
            await asyncio.sleep(0.2)
        raise Timeout(f"drain of {node}: replicas still there after {timeout_s:.0f}s")


def _by_deployment(replicas: Sequence[Replica]) -> dict[str, list[Replica]]:
    grouped: dict[str, list[Replica]] = defaultdict(list)
    for r in replicas:
        grouped[r.spec.deployment].append(r)
    return grouped


def _same_status(a: ModelDeploymentStatus, b: ModelDeploymentStatus) -> bool:
    strip = {"conditions": {"__all__": {"last_transition_time"}}}
    return a.model_dump(exclude=strip) == b.model_dump(exclude=strip)  # type: ignore[arg-type]

"""The table columns of each resource type: what a platform engineer reads at a glance.

Beside kubectl's NAME/STATUS/AGE, a node shows where its power is and how clean
it is, and a deployment where its replicas run, how far they are from their
users and what their tokens cost in carbon. The arithmetic is in metrics.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controlplane.cli import metrics
from controlplane.cli.output import Column, age, fixed, percent
from controlplane.resources import Curtailment, Event, ModelDeployment, Node, Replica
from controlplane.resources.deployment import Route

if TYPE_CHECKING:
    from controlplane.cli.client import EventSeries

MAX_NODES_SHOWN = 3


def node_status(node: Node) -> str:
    """kubectl's STATUS: Ready, NotReady or Unknown, and SchedulingDisabled when cordoned."""
    conditions = node.status.conditions if node.status else []
    ready = next((c.status for c in conditions if c.type == "Ready"), "Unknown")
    text = {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
    return text + (",SchedulingDisabled" if node.spec.unschedulable else "")


def _gpus(node: Node) -> str:
    free, total = metrics.gpus_free_total(node)
    return f"{'?' if free is None else free}/{total}"


def _power(node: Node) -> str:
    energy = metrics.node_energy(node)
    budget = energy.budget_kw if energy and energy.budget_kw else node.spec.power.budget_kw
    draw = f"{energy.it_draw_kw:.1f}" if energy else "?"
    return f"{draw}/{budget:.0f}"


def _energy(attr: str) -> Callable[[Node], float | None]:
    def value(node: Node) -> float | None:
        energy = metrics.node_energy(node)
        return getattr(energy, attr) if energy else None

    return value


def _renewable(node: Node) -> float | None:
    energy = metrics.node_energy(node)
    return metrics.renewable_share(energy) if energy else None


def _gpu_models(node: Node) -> str:
    return ",".join(f"{g.model}x{g.count}" for g in node.spec.capacity.gpus)


NODE_COLUMNS: list[Column[Node]] = [
    Column("NAME", lambda n: n.name),
    Column("STATUS", node_status),
    Column("TIER", lambda n: n.spec.tier),
    Column("REGION", lambda n: n.spec.location.region),
    Column("COUNTRY", lambda n: n.spec.location.country, wide=True),
    Column("GPUS(free/total)", _gpus),
    Column("GPU-MODELS", _gpu_models, wide=True),
    Column("POWER(kW)", _power),
    Column("RENEWABLE", _renewable, percent),
    Column("CARBON(g/kWh)", _energy("carbon_g_per_kwh"), fixed(0)),
    Column("PRICE(/kWh)", _energy("price_per_kwh"), fixed(3), wide=True),
    Column(
        "HEARTBEAT", lambda n: age(n.status.last_heartbeat_time) if n.status else None, wide=True
    ),
    Column("AGENT", lambda n: n.status.agent_version if n.status else None, wide=True),
    Column("AGE", lambda n: age(n.metadata.creation_timestamp)),
]


def ready(deployment: ModelDeployment) -> str:
    status = deployment.status
    return f"{status.ready_replicas if status else 0}/{deployment.spec.replicas}"


def replica_nodes(deployment: ModelDeployment, *, limit: int | None = MAX_NODES_SHOWN) -> str:
    """Where the replicas run: node names, the first few and a count of the rest."""
    replicas = deployment.status.replicas if deployment.status else []
    names = sorted({r.node for r in replicas if r.node})
    if limit is None or len(names) <= limit:
        return ",".join(names)
    return ",".join(names[:limit]) + f"+{len(names) - limit}"


def _model(deployment: ModelDeployment) -> str:
    model = deployment.spec.model
    return f"{model.name}:{model.version}" if model.version else model.name


def _per_replica(deployment: ModelDeployment) -> str:
    resources = deployment.spec.resources
    gpus = f"{resources.gpus}x{resources.gpu_model}" if resources.gpu_model else str(resources.gpus)
    return f"{gpus},{resources.power_kw:g}kW" if resources.power_kw else gpus


def _constraints(deployment: ModelDeployment) -> str:
    placement = deployment.spec.placement
    parts = [*placement.tiers, *placement.regions, *placement.countries]
    if placement.privacy:
        parts.append(placement.privacy)
    return ",".join(parts)


def attainment(deployment: ModelDeployment) -> float | None:
    """The share of demand served within the latency SLO, as the reconciler last routed it."""
    return deployment.status.attainment if deployment.status else None


DEPLOYMENT_COLUMNS: list[Column[ModelDeployment]] = [
    Column("NAME", lambda d: d.name),
    Column("MODEL", _model),
    Column("READY", ready),
    Column("NODES", replica_nodes),
    Column("ATTAINMENT", attainment, lambda v: f"{v * 100:.1f}%"),
    Column("RTT-P95(ms)", metrics.rtt_p95_ms, fixed(1)),
    Column("CARBON(g/Mtok)", metrics.carbon_g_per_million_tokens, fixed(1)),
    Column("CARBON(g/kWh)", metrics.mean_carbon_g_per_kwh, fixed(0), wide=True),
    Column("RUNTIME", lambda d: d.spec.model.runtime, wide=True),
    Column("PER-REPLICA", _per_replica, wide=True),
    Column("SLO(ms)", lambda d: d.spec.latency_slo_ms, fixed(0), wide=True),
    Column("CONSTRAINTS", _constraints, wide=True),
    Column("AGE", lambda d: age(d.metadata.creation_timestamp)),
]


def _placement(attr: str, digits: int) -> Column[Replica]:
    def value(replica: Replica) -> float | None:
        placement = replica.status.placement
        return getattr(placement, attr) if placement else None

    header = {"rtt_ms": "RTT(ms)", "carbon_g_per_kwh": "CARBON(g/kWh)", "score": "SCORE"}[attr]
    return Column(header, value, fixed(digits), wide=attr == "score")


def _feasible(replica: Replica) -> str | None:
    placement = replica.status.placement
    return f"{placement.feasible_nodes}/{placement.total_nodes}" if placement else None


REPLICA_COLUMNS: list[Column[Replica]] = [
    Column("NAME", lambda r: r.name),
    Column("DEPLOYMENT", lambda r: r.spec.deployment),
    Column("NODE", lambda r: r.spec.node_name),
    Column("PHASE", lambda r: r.status.phase),
    _placement("rtt_ms", 1),
    _placement("carbon_g_per_kwh", 0),
    Column("MODEL", lambda r: r.spec.model.name, wide=True),
    Column("ENDPOINT", lambda r: r.status.endpoint, wide=True),
    _placement("score", 3),
    Column("FEASIBLE", _feasible, wide=True),
    Column("MESSAGE", lambda r: r.status.message, wide=True),
    Column("AGE", lambda r: age(r.metadata.creation_timestamp)),
]


def _shed(curtailment: Curtailment) -> str:
    """How far the draw fell from its baseline, and how soon it fit the budget."""
    status = curtailment.status
    if not status.baseline_kw:
        return ""
    share = 1 - status.draw_kw / status.baseline_kw
    took = status.time_to_shed_seconds
    return f"{share:.0%}" + (f" in {took:.0f}s" if took is not None else "")


CURTAILMENT_COLUMNS: list[Column[Curtailment]] = [
    Column("NAME", lambda c: c.name),
    Column("NODE", lambda c: c.spec.node_name),
    Column("BUDGET(kW)", lambda c: c.spec.budget_kw, fixed(0)),
    Column("FOR", lambda c: f"{c.spec.duration_seconds / 3600:g}h"),
    Column("PHASE", lambda c: c.status.phase),
    Column("DRAW(kW)", lambda c: f"{c.status.draw_kw:.0f}/{c.status.baseline_kw:.0f}"),
    Column("SHED", _shed),
    Column("SHED(kWh)", lambda c: c.status.energy_shed_kwh, fixed(0)),
    Column("BY", lambda c: c.spec.requested_by),
    Column("REASON", lambda c: c.spec.reason, wide=True),
    Column("STARTED", lambda c: c.status.start_time, wide=True),
    Column("AGE", lambda c: age(c.metadata.creation_timestamp)),
]

EVENT_COLUMNS: list[Column[Event]] = [
    Column("LAST SEEN", lambda e: age(e.time or e.metadata.creation_timestamp)),
    Column("TYPE", lambda e: e.type),
    Column("REASON", lambda e: e.reason),
    Column("OBJECT", lambda e: f"{e.involved_object.kind.lower()}/{e.involved_object.name}"),
    Column("SOURCE", lambda e: e.source),
    Column("MESSAGE", lambda e: e.message),
]


@dataclass(frozen=True, slots=True)
class RouteRow:
    """A route with the deployment it belongs to, for `tpctl get routes`."""

    deployment: str
    route: Route


def route_rows(deployments: list[ModelDeployment]) -> list[RouteRow]:
    return [RouteRow(d.name, r) for d in deployments for r in (d.status.routes if d.status else [])]


ROUTE_COLUMNS: list[Column[RouteRow]] = [
    Column("DEPLOYMENT", lambda r: r.deployment),
    Column("DEMAND", lambda r: r.route.demand),
    Column("REPLICA", lambda r: r.route.replica),
    Column("NODE", lambda r: r.route.node),
    Column("SHARE", lambda r: r.route.share, percent),
    Column("RTT(ms)", lambda r: r.route.rtt_ms, fixed(1)),
    Column("SOURCE", lambda r: r.route.rtt_source),
    Column("IN SLO", lambda r: "yes" if r.route.within_slo else "no"),
]

SERIES_COLUMNS: list[Column[EventSeries]] = [
    Column("LAST SEEN", lambda s: age(s.event.time or s.event.metadata.creation_timestamp)),
    Column("TYPE", lambda s: s.event.type),
    Column("REASON", lambda s: s.event.reason),
    Column(
        "OBJECT", lambda s: f"{s.event.involved_object.kind.lower()}/{s.event.involved_object.name}"
    ),
    Column("COUNT", lambda s: s.count),
    Column("FIRST SEEN", lambda s: age(s.first_time)),
    Column("SOURCE", lambda s: s.event.source),
    Column("MESSAGE", lambda s: s.event.message),
]

COLUMNS: dict[str, list[Column[Any]]] = {
    "Node": NODE_COLUMNS,
    "ModelDeployment": DEPLOYMENT_COLUMNS,
    "Replica": REPLICA_COLUMNS,
    "Curtailment": CURTAILMENT_COLUMNS,
}

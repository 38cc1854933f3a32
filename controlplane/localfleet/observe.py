"""One look at a running fleet through the Fleet API: what `up` shows, the recorder keeps, the
report sums.

Figures are live, not the scheduler's at placement time: a replica placed at
noon on solar power is counted at grid carbon once the sun has set. Each
replica's carbon is that of its site now, attributed: the grid's intensity
times the share of the site's draw that its renewables do not cover (all IT
power, PUE left out, as the scheduler counts it). Samples are plain dataclasses
that round-trip through JSON, so the report can be made after the fleet is gone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from controlplane.cli.client import FleetClient
from controlplane.cli.metrics import declared_tokens_per_s, renewable_share
from controlplane.energy.scope2 import carbon_kind, replica_power_kw, site_carbon
from controlplane.localfleet.deployments import demand_share_now
from controlplane.resources import EnergyStatus, ModelDeployment, Node, Replica
from controlplane.resources.wellknown import REPLACES_ANNOTATION as REPLACES

SERVING = "Running"


@dataclass(frozen=True)
class ReplicaNow:
    deployment: str
    name: str
    node: str
    city: str
    phase: str
    power_kw: float
    rtt_ms: float  # the scheduler's demand-weighted RTT from this node
    carbon_g_per_kwh: float  # attributed, now
    renewable_share: float  # of the site's draw, now
    replaces: str  # the replica this one moved in for (make-before-break), or ""
    # What carbon_g_per_kwh is (controlplane/energy/scope2.py): totals never mix kinds.
    carbon_kind: str = "unknown"  # e.g. average/lifecycle, marginal/direct
    carbon_provenance: str = ""  # measured | forecast | modelled | declared
    market_carbon_g_per_kwh: float | None = None  # Scope 2 market-based; None: not average
    contract_share: float = 0.0  # of the site's grid draw, covered by its contracts
    residual_is_grid: bool = True  # no residual mix declared: the grid average stood in
    power_measured: bool = False  # power_kw is NVML's measured share, not the declared figure


@dataclass(frozen=True)
class DeploymentNow:
    name: str
    desired: int
    running: int
    latency_slo_ms: float | None
    tokens_per_s: float | None  # declared per replica
    demand_now: float  # population weight x the daily shape at each point's local time
    # Of demand_now, the points whose route (status.routes: nearest Running replica) is within
    # the SLO; None in samples recorded before routes were sampled.
    demand_within_now: float | None = None


@dataclass(frozen=True)
class FleetNow:
    wall_s: float
    sim_s: float
    nodes_total: int
    nodes_ready: int
    it_draw_kw: float
    renewable_used_kw: float  # renewable supply that covers draw, summed over sites
    over_budget: list[str]  # nodes drawing more than their budget
    replicas: list[ReplicaNow]
    deployments: list[DeploymentNow] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)  # nodes not Ready now, by name

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FleetNow:
        return cls(
            **{
                **data,
                "replicas": [ReplicaNow(**r) for r in data["replicas"]],
                "deployments": [DeploymentNow(**d) for d in data["deployments"]],
            }
        )


def site_carbon_g_per_kwh(energy: EnergyStatus) -> tuple[float, float]:
    """(attributed gCO2/kWh, renewable share) of a site's power now."""
    share = renewable_share(energy) or 0.0
    return energy.carbon_g_per_kwh * (1 - share), share


def _ready(node: Node) -> bool:
    status = node.status
    return status is not None and any(
        c.type == "Ready" and c.status == "True" for c in status.conditions
    )


def observe(client: FleetClient, *, wall_s: float, sim_s: float) -> FleetNow:
    nodes = [n for n in client.list("Node")[0] if isinstance(n, Node)]
    replicas = [r for r in client.list("Replica")[0] if isinstance(r, Replica)]
    deployments = [d for d in client.list("ModelDeployment")[0] if isinstance(d, ModelDeployment)]
    by_name = {n.name: n for n in nodes}
    energy = {n.name: n.status.energy for n in nodes if n.status and n.status.energy}
    when = datetime.fromtimestamp(sim_s, UTC)
    gpus_serving: dict[str, int] = {}
    for r in replicas:
        if r.status.phase == SERVING:
            node_name = r.spec.node_name
            gpus_serving[node_name] = gpus_serving.get(node_name, 0) + r.spec.resources.gpus
    replica_rows = []
    for r in replicas:
        node = by_name.get(r.spec.node_name)
        site = energy.get(r.spec.node_name)
        carbon, share = site_carbon_g_per_kwh(site) if site else (0.0, 0.0)
        scope2 = (
            site_carbon(
                grid_g_per_kwh=site.carbon_g_per_kwh,
                basis=site.carbon_basis,
                renewable_share=share,
                draw_kw=site.it_draw_kw,
                contracts=node.spec.contracts if node else [],
                residual_mix_g_per_kwh=node.spec.residual_mix_g_per_kwh if node else None,
                when=when,
            )
            if site
            else None
        )
        power_kw, measured = replica_power_kw(
            r.spec.resources.power_kw,
            r.spec.resources.gpus,
            site.gpu_power_kw if site and r.status.phase == SERVING else None,
            gpus_serving.get(r.spec.node_name, 0),
        )
        basis = site.carbon_basis if site else None
        placement = r.status.placement
        replica_rows.append(
            ReplicaNow(
                deployment=r.spec.deployment,
                name=r.name,
                node=r.spec.node_name,
                city=node.spec.location.city if node else "",
                phase=r.status.phase,
                power_kw=power_kw,
                rtt_ms=placement.rtt_ms if placement else 0.0,
                carbon_g_per_kwh=carbon,
                renewable_share=share,
                replaces=r.metadata.annotations.get(REPLACES, ""),
                carbon_kind=carbon_kind(basis),
                carbon_provenance=basis.provenance if basis else "",
                market_carbon_g_per_kwh=scope2.market_g_per_kwh if scope2 else None,
                contract_share=scope2.contract_share if scope2 else 0.0,
                residual_is_grid=scope2.residual_is_grid_average if scope2 else True,
                power_measured=measured,
            )
        )
    running: dict[str, int] = {}
    for row in replica_rows:
        if row.phase == SERVING:
            running[row.deployment] = running.get(row.deployment, 0) + 1
    return FleetNow(
        wall_s=wall_s,
        sim_s=sim_s,
        nodes_total=len(nodes),
        nodes_ready=sum(1 for n in nodes if _ready(n)),
        it_draw_kw=sum(e.it_draw_kw for e in energy.values()),
        renewable_used_kw=sum(min(e.renewable_kw, e.it_draw_kw) for e in energy.values()),
        over_budget=sorted(
            name
            for name, e in energy.items()
            if e.it_draw_kw > (e.budget_kw or by_name[name].spec.power.budget_kw) + 1e-6
        ),
        replicas=sorted(replica_rows, key=lambda r: (r.deployment, r.name)),
        not_ready=sorted(n.name for n in nodes if not _ready(n)),
        deployments=[
            DeploymentNow(
                name=d.name,
                desired=d.spec.replicas,
                running=running.get(d.name, 0),
                latency_slo_ms=d.spec.latency_slo_ms,
                tokens_per_s=declared_tokens_per_s(d),
                demand_now=sum(
                    p.weight * demand_share_now(p.lon or 0.0, sim_s) for p in d.spec.demand
                ),
                demand_within_now=_demand_within_now(d, sim_s),
            )
            for d in sorted(deployments, key=lambda d: d.name)
        ],
    )


def _demand_within_now(deployment: ModelDeployment, sim_s: float) -> float:
    """Demand now at the points whose routes are within the SLO, as gateways route it.

    A point with no route (no replica Running) is not served within the SLO.
    """
    routes = deployment.status.routes if deployment.status else []
    within = {r.demand for r in routes if r.within_slo}
    return sum(
        p.weight * demand_share_now(p.lon or 0.0, sim_s)
        for p in deployment.spec.demand
        if p.name in within or deployment.spec.latency_slo_ms is None
    )


def changes(before: FleetNow, after: FleetNow) -> list[str]:
    """What changed between two looks, one line each, for a live view that is not a terminal:
    replicas placed (and whom they replace), started, stopped; nodes lost and back."""
    lines: list[str] = []
    old = {r.name: r for r in before.replicas}
    new = {r.name: r for r in after.replicas}
    for name, r in new.items():
        where = f"{r.node} ({r.city})" if r.city else r.node
        if name not in old:
            instead = f", replacing {r.replaces}" if r.replaces else ""
            lines.append(f"{r.deployment}: {name} placed on {where}{instead}, {r.phase}")
        elif old[name].phase != r.phase:
            lines.append(f"{r.deployment}: {name} on {where} {old[name].phase} -> {r.phase}")
    for name, r in old.items():
        if name not in new:
            lines.append(f"{r.deployment}: {name} on {r.node} stopped")
    lost, back = (
        set(after.not_ready) - set(before.not_ready),
        set(before.not_ready) - set(after.not_ready),
    )
    lines += [f"node {n} NotReady" for n in sorted(lost)]
    lines += [f"node {n} Ready" for n in sorted(back)]
    return lines

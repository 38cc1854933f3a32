"""`tpctl top`'s columns: live energy and GPU use, each with a raw value to sort by.

Nodes: IT draw against budget, GPUs in use, renewable supply and the share of
the draw it covers, grid carbon intensity and what it is (average or marginal,
direct or lifecycle, measured, forecast or modelled: docs/energy.md), and the CO2
and cost per hour of the draw. Deployments: the same, summed over their serving
replicas. Meanings and assumptions are in metrics.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controlplane.cli import metrics
from controlplane.cli.columns import ready
from controlplane.cli.output import Column, fixed, percent
from controlplane.energy.scope2 import UNKNOWN_KIND, carbon_kind
from controlplane.resources import EnergyStatus, ModelDeployment, Node


def _with_energy(
    f: Callable[[EnergyStatus, Node], float | None],
) -> Callable[[Node], float | None]:
    """A column value that needs the node's live energy; unknown without it."""

    def value(node: Node) -> float | None:
        energy = metrics.node_energy(node)
        return f(energy, node) if energy else None

    return value


def _budget(energy: EnergyStatus, node: Node) -> float:
    return energy.budget_kw or node.spec.power.budget_kw


def _gpu_use(node: Node) -> tuple[int, int] | None:
    free, total = metrics.gpus_free_total(node)
    return None if free is None else (total - free, total)


def _gpu_share(node: Node) -> float | None:
    use = _gpu_use(node)
    return use[0] / use[1] if use and use[1] else None


NODE_TOP: dict[str, Column[Node]] = {
    "name": Column("NAME", lambda n: n.name),
    "power": Column("POWER(kW)", _with_energy(lambda e, n: e.it_draw_kw), fixed(1)),
    "power%": Column(
        "POWER%",
        _with_energy(lambda e, n: e.it_draw_kw / _budget(e, n) if _budget(e, n) else None),
        percent,
    ),
    "gpu": Column("GPUS(used/total)", _gpu_use, lambda u: f"{u[0]}/{u[1]}"),
    "gpu%": Column("GPU%", _gpu_share, percent),
    "renewable": Column("RENEWABLE(kW)", _with_energy(lambda e, n: e.renewable_kw), fixed(1)),
    "renewable%": Column(
        "RENEWABLE%", _with_energy(lambda e, n: metrics.renewable_share(e)), percent
    ),
    "carbon": Column("CARBON(g/kWh)", _with_energy(lambda e, n: e.carbon_g_per_kwh), fixed(0)),
    "carbon-basis": Column("CARBON-BASIS", metrics.carbon_label),
    "co2": Column("CO2(kg/h)", _with_energy(lambda e, n: metrics.grid_co2_kg_per_h(e)), fixed(2)),
    "cost": Column("COST(/h)", _with_energy(lambda e, n: e.it_draw_kw * e.price_per_kwh), fixed(2)),
}


def _serving_gpus(deployment: ModelDeployment) -> int:
    return deployment.spec.resources.gpus * len(metrics.running(deployment))


def _serving_carbon(deployment: ModelDeployment) -> float | None:
    serving = metrics.running(deployment)
    return sum(p.carbon_g_per_kwh for p in serving) / len(serving) if serving else None


DEPLOYMENT_TOP: dict[str, Column[ModelDeployment]] = {
    "name": Column("NAME", lambda d: d.name),
    "ready": Column("READY", ready),
    "gpu": Column("GPUS", _serving_gpus),
    "power": Column("POWER(kW)", metrics.serving_power_kw, fixed(1)),
    "carbon": Column("CARBON(g/kWh)", _serving_carbon, fixed(0)),
    "co2": Column("CO2(kg/h)", metrics.serving_co2_kg_per_h, fixed(2)),
    "carbon-per-token": Column("CARBON(g/Mtok)", metrics.carbon_g_per_million_tokens, fixed(1)),
    "carbon-basis": Column("CARBON-BASIS", lambda d: None),  # see deployment_top
    "power-from": Column("POWER-FROM", metrics.power_source),
    "rtt": Column("RTT-P95(ms)", metrics.rtt_p95_ms, fixed(1)),
}


def _one_kind(
    f: Callable[[ModelDeployment], float | None], node_kinds: Mapping[str, str]
) -> Callable[[ModelDeployment], float | None]:
    """A carbon figure summed over the serving replicas' nodes, where they share one kind."""

    def value(deployment: ModelDeployment) -> float | None:
        return f(deployment) if len(_kinds(deployment, node_kinds)) <= 1 else None

    return value


def _kinds(deployment: ModelDeployment, node_kinds: Mapping[str, str]) -> set[str]:
    """The carbon kinds of the nodes the deployment serves from (as metrics.running counts)."""
    replicas = deployment.status.replicas if deployment.status else []
    return {
        node_kinds.get(r.node, UNKNOWN_KIND)
        for r in replicas
        if r.placement and r.phase == "Running"
    }


def node_kinds(nodes: Sequence[Any]) -> dict[str, str]:
    """Each reporting node's carbon kind, e.g. average/lifecycle (unknown where not said)."""
    return {
        n.name: carbon_kind(energy.carbon_basis)
        for n in nodes
        if isinstance(n, Node) and (energy := metrics.node_energy(n))
    }


def deployment_top(
    node_kinds: Mapping[str, str], metered: metrics.MeteredNodes = metrics.NO_METERS
) -> dict[str, Column[ModelDeployment]]:
    """DEPLOYMENT_TOP given each node's carbon kind and its meter, if any. Averages and
    margins (or direct and lifecycle figures) are never added, so a deployment serving
    from nodes of different kinds shows `-` for its carbon figures and `mixed` as its
    kind; power is NVML's measured share where a node has a meter (POWER-FROM)."""

    def kind(deployment: ModelDeployment) -> str | None:
        kinds = _kinds(deployment, node_kinds)
        return None if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"

    def co2(deployment: ModelDeployment) -> float | None:
        return metrics.serving_co2_kg_per_h(deployment, metered)

    def per_token(deployment: ModelDeployment) -> float | None:
        return metrics.carbon_g_per_million_tokens(deployment, metered)

    top = dict(DEPLOYMENT_TOP)
    top["power"] = Column("POWER(kW)", lambda d: metrics.serving_power_kw(d, metered), fixed(1))
    top["carbon"] = Column("CARBON(g/kWh)", _one_kind(_serving_carbon, node_kinds), fixed(0))
    top["co2"] = Column("CO2(kg/h)", _one_kind(co2, node_kinds), fixed(2))
    top["carbon-per-token"] = Column("CARBON(g/Mtok)", _one_kind(per_token, node_kinds), fixed(1))
    top["carbon-basis"] = Column("CARBON-BASIS", kind)
    top["power-from"] = Column("POWER-FROM", lambda d: metrics.power_source(d, metered))
    return top


TOP_COLUMNS: dict[str, dict[str, Column[Any]]] = {
    "Node": NODE_TOP,
    "ModelDeployment": DEPLOYMENT_TOP,
}


def sort(items: list[Any], column: Column[Any]) -> list[Any]:
    """Names A to Z; figures biggest first, unknown last."""
    if column.header == "NAME":
        return sorted(items, key=column.value)
    known = [i for i in items if column.value(i) is not None]
    unknown = [i for i in items if column.value(i) is None]
    return sorted(known, key=column.value, reverse=True) + unknown

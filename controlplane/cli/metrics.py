"""The fleet arithmetic tpctl shows beside kubectl's columns, each assumption written down.

Pure functions over plain numbers (and the models' status fields), so that what
a column means can be read, and tested, in one place. None means "unknown" and
is shown as `-`: tpctl never prints a number the server did not give it the
means to compute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from controlplane.energy.scope2 import replica_power_kw
from controlplane.resources import EnergyStatus, ModelDeployment, Node, PlacementExplanation
from controlplane.resources.node import CarbonBasis
from controlplane.resources.wellknown import TOKENS_PER_SECOND_ANNOTATION


def renewable_share(energy: EnergyStatus) -> float | None:
    """Share of the node's IT draw that its renewable supply covers now, 0..1.

    Assumes renewable power is used first; unknown when the node draws nothing.
    """
    if energy.it_draw_kw <= 0:
        return None
    return min(1.0, max(0.0, energy.renewable_kw) / energy.it_draw_kw)


def grid_co2_kg_per_h(energy: EnergyStatus) -> float:
    """CO2 of the draw that renewables do not cover, at the grid's carbon intensity."""
    grid_kw = max(0.0, energy.it_draw_kw - max(0.0, energy.renewable_kw))
    return grid_kw * energy.carbon_g_per_kwh / 1000.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def node_energy(node: Node) -> EnergyStatus | None:
    """Live energy figures, or None for a node that has not reported any."""
    return node.status.energy if node.status and node.status.energy else None


def carbon_label(node: Node) -> str | None:
    """What the node's carbon figure is, e.g. "average/lifecycle/measured"; None: not said.

    Figures of different kinds are different quantities: tpctl shows the label
    beside each and never adds, averages or ranks them across kinds.
    """
    energy = node_energy(node)
    return energy.carbon_basis.label() if energy and energy.carbon_basis else None


def carbon_basis_text(basis: CarbonBasis | None) -> str:
    """The basis in words for `describe`, e.g. "average, lifecycle, measured; zone CA-ON"."""
    if basis is None:
        return "not said by the node's source (unknown kind: not comparable)"
    text = f"{basis.signal}, {basis.scope}, {basis.provenance}"
    where = [
        f"zone {basis.zone}" if basis.zone else "",
        f"from {basis.provider}" if basis.provider else "",
        f"as of {basis.time}" if basis.time else "",
    ]
    text += "; " + ", ".join(w for w in where if w) if any(where) else ""
    if basis.stale:
        text += f"; STALE ({basis.age_seconds / 3600:.1f} h old, past the source's max age)"
    return text


def gpus_free_total(node: Node) -> tuple[int | None, int]:
    """Free and total GPUs; free is unknown until the node's agent reports it."""
    if node.status and node.status.gpus:
        return sum(g.free for g in node.status.gpus), sum(g.total for g in node.status.gpus)
    return None, sum(g.count for g in node.spec.capacity.gpus)


def placements(deployment: ModelDeployment) -> list[PlacementExplanation]:
    """Why each placed replica is where it is; replicas not yet placed have none."""
    status = deployment.status
    return [r.placement for r in status.replicas if r.placement] if status else []


def running(deployment: ModelDeployment) -> list[PlacementExplanation]:
    """Placements of the replicas that are serving now."""
    status = deployment.status
    if status is None:
        return []
    return [r.placement for r in status.replicas if r.placement and r.phase == "Running"]


def rtt_p95_ms(deployment: ModelDeployment) -> float | None:
    """p95 over placed replicas of each one's expected RTT to its demand.

    The status carries one RTT per replica (the scheduler's estimate against the
    deployment's demand), not per user, so each replica counts once. Unknown for
    a deployment that names no demand: there is nobody to be near.
    """
    if not deployment.spec.demand:
        return None
    return percentile([p.rtt_ms for p in placements(deployment)], 95)


def mean_carbon_g_per_kwh(deployment: ModelDeployment) -> float | None:
    """Mean carbon intensity of the placed replicas' power (each replica counts once).

    Each figure is the scheduler's, for the marginal kWh at the replica's node when
    it was placed: grid carbon, lowered by the renewable supply there.
    """
    values = [p.carbon_g_per_kwh for p in placements(deployment)]
    return sum(values) / len(values) if values else None


def declared_tokens_per_s(deployment: ModelDeployment) -> float | None:
    text = deployment.metadata.annotations.get(TOKENS_PER_SECOND_ANNOTATION, "")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 and math.isfinite(value) else None


MeteredNodes = Mapping[str, tuple[float, int]]  # node -> (NVML's GPU power kW, GPUs held)
NO_METERS: MeteredNodes = {}


def metered_nodes(nodes: Sequence[Node]) -> dict[str, tuple[float, int]]:
    """Nodes whose agent reports NVML's GPU board power, with the GPUs their replicas hold."""
    metered = {}
    for node in nodes:
        energy = node_energy(node)
        free, total = gpus_free_total(node)
        if energy and energy.gpu_power_kw is not None and free is not None:
            metered[node.name] = (energy.gpu_power_kw, total - free)
    return metered


def serving_power(
    deployment: ModelDeployment, metered: MeteredNodes = NO_METERS
) -> list[tuple[float, PlacementExplanation, bool]] | None:
    """(power kW, placement, measured?) of each serving replica: its share of its node's
    measured GPU power by GPU count where the node has a meter (controlplane/energy/
    scope2.py), else the spec's powerKw; None if neither gives a figure."""
    declared_kw, gpus = deployment.spec.resources.power_kw, deployment.spec.resources.gpus
    replicas = deployment.status.replicas if deployment.status else []
    out = []
    for r in replicas:
        if r.placement is None or r.phase != "Running":
            continue
        meter = metered.get(r.node)
        kw, measured = replica_power_kw(declared_kw, gpus, *(meter or (None, 0)))
        if kw <= 0 and not measured:
            return None
        out.append((kw, r.placement, measured))
    if declared_kw <= 0 and not any(measured for _, _, measured in out):
        return None
    return out


def carbon_g_per_million_tokens(
    deployment: ModelDeployment, metered: MeteredNodes = NO_METERS
) -> float | None:
    """gCO2 per million tokens of the serving replicas.

    = replica IT power (NVML's measured share where its node has a meter, else
      spec.resources.powerKw) x the carbon of its marginal kWh (from its
      placement) / declared throughput (annotation tokenplane.io/tokens-per-second).
    Unknown without a declared throughput, a power figure, or a serving replica.
    The site's PUE is not counted: this is the IT load's share.
    """
    tokens_per_s = declared_tokens_per_s(deployment)
    serving = serving_power(deployment, metered)
    if tokens_per_s is None or not serving:
        return None
    grams_per_h = sum(kw * p.carbon_g_per_kwh for kw, p, _ in serving)
    tokens_per_h = tokens_per_s * 3600.0 * len(serving)
    return grams_per_h / tokens_per_h * 1e6


def serving_power_kw(
    deployment: ModelDeployment, metered: MeteredNodes = NO_METERS
) -> float | None:
    """IT power of the serving replicas; unknown if neither a meter nor the spec gives it."""
    serving = serving_power(deployment, metered)
    return None if serving is None else sum(kw for kw, _, _ in serving)


def serving_co2_kg_per_h(
    deployment: ModelDeployment, metered: MeteredNodes = NO_METERS
) -> float | None:
    """CO2 of the serving replicas' IT power, at the carbon of each one's marginal kWh."""
    serving = serving_power(deployment, metered)
    return (
        None if serving is None else sum(kw * p.carbon_g_per_kwh for kw, p, _ in serving) / 1000.0
    )


def power_source(deployment: ModelDeployment, metered: MeteredNodes = NO_METERS) -> str | None:
    """measured | declared | mixed: where the serving replicas' power figures come from."""
    serving = serving_power(deployment, metered) or []
    sources = {"measured" if measured else "declared" for _, _, measured in serving}
    return None if not sources else sources.pop() if len(sources) == 1 else "mixed"

"""The fleet arithmetic tpctl shows beside kubectl's columns, each assumption written down.

Pure functions over plain numbers (and the models' status fields), so that what
a column means can be read, and tested, in one place. None means "unknown" and
is shown as `-`: tpctl never prints a number the server did not give it the
means to compute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def carbon_g_per_million_tokens(deployment: ModelDeployment) -> float | None:
    """gCO2 per million tokens of the serving replicas.

    = replica IT power (spec.resources.powerKw) x the carbon of its marginal kWh
      (from its placement) / declared throughput (annotation
      tokenplane.io/tokens-per-second).
    Unknown without a declared throughput, a power figure, or a serving replica.
    The site's PUE is not counted: this is the IT load's share.
    """
    tokens_per_s = declared_tokens_per_s(deployment)
    power_kw = deployment.spec.resources.power_kw
    serving = running(deployment)
    if tokens_per_s is None or power_kw <= 0 or not serving:
        return None
    grams_per_h = sum(power_kw * p.carbon_g_per_kwh for p in serving)
    tokens_per_h = tokens_per_s * 3600.0 * len(serving)
    return grams_per_h / tokens_per_h * 1e6


def serving_power_kw(deployment: ModelDeployment) -> float | None:
    """IT power of the serving replicas; unknown if the spec gives no power per replica."""
    power_kw = deployment.spec.resources.power_kw
    return power_kw * len(running(deployment)) if power_kw > 0 else None


def serving_co2_kg_per_h(deployment: ModelDeployment) -> float | None:
    """CO2 of the serving replicas' IT power, at the carbon of each one's marginal kWh."""
    power_kw = deployment.spec.resources.power_kw
    if power_kw <= 0:
        return None
    return sum(power_kw * p.carbon_g_per_kwh for p in running(deployment)) / 1000.0

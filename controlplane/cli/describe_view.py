"""`tpctl describe`: one object in prose and small tables, and why it is the way it is.

Spec is printed in full as nested fields (so a new API field shows up without
work here); status gets sections written for people: conditions, energy now,
GPUs, each replica's placement explanation, and the object's recent events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click
import yaml

from controlplane.cli import metrics
from controlplane.cli.columns import ROUTE_COLUMNS, node_status, ready, replica_nodes, route_rows
from controlplane.cli.output import age, cells, manifest, print_table
from controlplane.resources import (
    Condition,
    Curtailment,
    EnergyStatus,
    Event,
    ModelDeployment,
    Node,
    PlacementExplanation,
    Replica,
)
from controlplane.resources.meta import Manifest

LABEL_WIDTH = 20


def _field(label: str, value: Any, indent: int = 0) -> None:
    text = "<none>" if value in (None, "", [], {}) else str(value)
    click.echo(f"{' ' * indent}{label + ':':<{LABEL_WIDTH - indent}}{text}")


def _section(title: str) -> None:
    click.echo(f"{title}:")


def _pairs(mapping: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(mapping.items()))


def _prune(value: Any) -> Any:
    """Leaves out empty fields ("", [], {}) at any depth: the defaults nobody set."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ("", [], {})}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _nested(value: dict[str, Any], indent: int) -> None:
    """A manifest fragment as indented YAML, without its empty fields."""
    text = yaml.safe_dump(_prune(value), sort_keys=False, default_flow_style=False)
    for line in text.splitlines():
        click.echo(" " * indent + line)


def _metadata(resource: Manifest) -> None:
    meta = resource.metadata
    _field("Name", meta.name)
    _field("Kind", resource.kind)
    _field("Labels", _pairs(meta.labels))
    _field("Annotations", _pairs(meta.annotations))
    _field(
        "Created",
        f"{meta.creation_timestamp} ({age(meta.creation_timestamp)} ago)"
        if meta.creation_timestamp
        else None,
    )
    _field("Generation", meta.generation)
    _field("ResourceVersion", meta.resource_version)


def _spec(resource: Manifest) -> None:
    _section("Spec")
    _nested(manifest(resource)["spec"], 2)


def _conditions(conditions: Sequence[Condition]) -> None:
    _section("Conditions")
    if not conditions:
        click.echo("  <none>")
        return
    print_table(
        ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"],
        [[c.type, c.status, c.reason, c.last_transition_time, c.message] for c in conditions],
        indent=2,
    )


def explain(placement: PlacementExplanation) -> list[str]:
    """Why a replica went where it went: its node's figures, then what the others lacked."""
    lines = [
        f"RTT {placement.rtt_ms:.1f} ms, carbon {placement.carbon_g_per_kwh:.0f} g/kWh, "
        f"renewable {placement.renewable_share * 100:.0f}%, "
        f"headroom {placement.headroom_kw:.1f} kW, "
        f"price {placement.price_per_kwh:.3f}/kWh, score {placement.score:.3f}"
    ]
    rejected = ", ".join(
        f"{count} {reason}"
        for reason, count in sorted(placement.rejected.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    if rejected or (placement.total_nodes and not placement.message):
        lines.append(
            f"{placement.feasible_nodes}/{placement.total_nodes} nodes feasible"
            + (f"; rejected: {rejected}" if rejected else "")
        )
    if placement.message:
        lines.append(placement.message)
    return lines


def _replica_lines(
    name: str, node: str, phase: str, endpoint: str, placement: PlacementExplanation | None
) -> None:
    where = f" on {node}" if node else " (not placed)"
    serving = f", {endpoint}" if endpoint else ""
    click.echo(f"  {name}{where}: {phase or 'Pending'}{serving}")
    for line in explain(placement) if placement else ["no placement recorded"]:
        click.echo(f"      {line}")


def _events(events: Sequence[Event]) -> None:
    _section("Events")
    if not events:
        click.echo("  <none>")
        return
    print_table(
        ["LAST SEEN", "TYPE", "REASON", "FROM", "MESSAGE"],
        [
            [
                age(e.time or e.metadata.creation_timestamp) or "",
                e.type,
                e.reason,
                e.source,
                e.message,
            ]
            for e in events
        ],
        indent=2,
    )


def describe_node(
    node: Node,
    replicas: Sequence[Replica],
    events: Sequence[Event],
    curtailments: Sequence[Curtailment] = (),
) -> None:
    _metadata(node)
    _field("Status", node_status(node))
    _spec(node)
    status = node.status
    _conditions(status.conditions if status else [])
    energy = metrics.node_energy(node)
    if energy is None:
        _field("Energy", "no report from the node's agent yet")
    else:
        _section(f"Energy (now, from {energy.source or 'unknown source'})")
        budget = energy.budget_kw or node.spec.power.budget_kw
        used = f" ({energy.it_draw_kw / budget * 100:.0f}%)" if budget else ""
        _field("IT draw", f"{energy.it_draw_kw:.1f} kW of {budget:g} kW budget{used}", 2)
        share = metrics.renewable_share(energy)
        covers = f", covers {share * 100:.0f}% of the draw" if share is not None else ""
        _field("Renewable", f"{energy.renewable_kw:.1f} kW available{covers}", 2)
        _field(
            "Grid carbon",
            f"{energy.carbon_g_per_kwh:.0f} gCO2/kWh; grid draw emits "
            f"{metrics.grid_co2_kg_per_h(energy):.2f} kgCO2/h",
            2,
        )
        _field("Carbon basis", metrics.carbon_basis_text(energy.carbon_basis), 2)
        if energy.gpu_power_kw is not None:
            _field("GPU power", f"{energy.gpu_power_kw:.2f} kW measured (NVML board power)", 2)
        _field("Price", f"{energy.price_per_kwh:.3f} per kWh", 2)
        if energy.curtail_to_kw is not None:
            _field("Grid asks", f"draw at most {energy.curtail_to_kw:g} kW (demand response)", 2)
        _forecast(energy)
    open_events = [c for c in curtailments if c.status.phase != "Ended"]
    if open_events:
        _section("Curtailments")
        print_table(
            ["NAME", "PHASE", "BUDGET(kW)", "FOR", "SINCE", "BY"],
            [
                [
                    c.name,
                    c.status.phase,
                    f"{c.spec.budget_kw:g}",
                    f"{c.spec.duration_seconds / 3600:.3g}h",
                    c.status.start_time or "-",
                    c.spec.requested_by,
                ]
                for c in open_events
            ],
            indent=2,
        )
    _section("GPUs")
    if status and status.gpus:
        print_table(
            ["MODEL", "MEMORY(GB)", "FREE", "TOTAL"],
            [[g.model, f"{g.memory_gb:g}", str(g.free), str(g.total)] for g in status.gpus],
            indent=2,
        )
    else:
        click.echo("  <not reported>")
    _field("Last heartbeat", status.last_heartbeat_time if status else None)
    _field("Agent version", status.agent_version if status else None)
    _section("Replicas")
    if not replicas:
        click.echo("  <none>")
    for r in replicas:
        _replica_lines(
            r.name, r.spec.node_name, r.status.phase, r.status.endpoint, r.status.placement
        )
    _events(events)


FORECAST_SOURCES = {
    "feed": "feed: the node's energy source",
    "seasonal-naive": "seasonal-naive: the control plane's, from the node's past week",
}
FORECAST_SHOWN_H = 12


def _forecast(energy: EnergyStatus) -> None:
    """The next hours re-planning weighs moves by (docs/forecast.md), as a row per figure."""
    if not energy.forecast:
        _field("Forecast", "<none yet: no feed forecast and less than a day of history>", 2)
        return
    source = energy.forecast_source
    _field("Forecast", FORECAST_SOURCES.get(source, source), 2)
    points = sorted(energy.forecast, key=lambda p: p.hour_offset)[:FORECAST_SHOWN_H]
    print_table(
        ["HOURS AHEAD", *(f"+{p.hour_offset}" for p in points)],
        [
            ["gCO2/kWh", *(f"{p.carbon_g_per_kwh:.0f}" for p in points)],
            ["price/kWh", *(f"{p.price_per_kwh:.3f}" for p in points)],
        ],
        indent=4,
    )


def describe_deployment(
    deployment: ModelDeployment,
    events: Sequence[Event],
    node_kinds: Mapping[str, str],
    metered: metrics.MeteredNodes = metrics.NO_METERS,
) -> None:
    """`node_kinds`: each node's carbon kind (top_view.node_kinds), so that a deployment
    serving from an average and a marginal node gets no carbon sum of the two; `metered`:
    nodes with NVML's GPU power, whose replicas' power is measured, not declared."""
    _metadata(deployment)
    _field("Ready", ready(deployment))
    _field("Nodes", replica_nodes(deployment, limit=None))
    rtt = metrics.rtt_p95_ms(deployment)
    _field("RTT p95", f"{rtt:.1f} ms to demand" if rtt is not None else None)
    kinds = sorted(
        {
            node_kinds.get(r.node, "unknown")
            for r in (deployment.status.replicas if deployment.status else [])
            if r.placement and r.phase == "Running"
        }
    )
    carbon = metrics.carbon_g_per_million_tokens(deployment, metered)
    if len(kinds) > 1:
        carbon_text = f"not summed: its nodes' carbon figures are of kinds {', '.join(kinds)}"
    elif carbon is not None:
        power = metrics.power_source(deployment, metered)
        carbon_text = f"{carbon:.1f} gCO2 per million tokens ({kinds[0]}; power {power})"
    else:
        carbon_text = (
            f"unknown (needs serving replicas, spec.resources.powerKw and the "
            f"{metrics.TOKENS_PER_SECOND_ANNOTATION} annotation)"
        )
    _field("Carbon", carbon_text)
    _spec(deployment)
    status = deployment.status
    _conditions(status.conditions if status else [])
    _section("Replicas")
    if not status or not status.replicas:
        click.echo("  <none>")
    for r in status.replicas if status else []:
        _replica_lines(r.name, r.node, r.phase, r.endpoint, r.placement)
    _routes(deployment)
    _events(events)


def _routes(deployment: ModelDeployment) -> None:
    """Which replica serves each demand point, how far, and whether within the SLO."""
    status = deployment.status
    share = status.attainment if status else None
    slo = deployment.spec.latency_slo_ms
    within = f" within the {slo:g} ms SLO" if slo else " (no latency SLO)"
    _section("Routes")
    _field(
        "Attainment",
        f"{share * 100:.1f}% of demand{within}" if share is not None else "not routed yet",
        indent=2,
    )
    rows = route_rows([deployment])
    if not rows:
        click.echo("  <none>")
        return
    columns = ROUTE_COLUMNS[1:]  # the deployment is this one
    print_table([c.header for c in columns], cells(columns, rows), indent=2)


def describe_curtailment(curtailment: Curtailment, events: Sequence[Event]) -> None:
    _metadata(curtailment)
    _spec(curtailment)
    status = curtailment.status
    _section("Status")
    _field("Phase", status.phase, 2)
    _field("Started", status.start_time, 2)
    _field("Ended", status.end_time, 2)
    _field("Baseline draw", f"{status.baseline_kw:.0f} kW", 2)
    _field("Draw", f"{status.draw_kw:.0f} kW", 2)
    took = status.time_to_shed_seconds
    _field("Time to shed", None if took is None else f"{took:.0f} s", 2)
    _field("Energy shed", f"{status.energy_shed_kwh:.0f} kWh", 2)
    _field("Message", status.message, 2)
    _events(events)


def describe_replica(replica: Replica, events: Sequence[Event]) -> None:
    _metadata(replica)
    _spec(replica)
    _section("Placement")
    _replica_lines(
        replica.name,
        replica.spec.node_name,
        replica.status.phase,
        replica.status.endpoint,
        replica.status.placement,
    )
    _field("Started", replica.status.start_time)
    _field("Message", replica.status.message)
    _events(events)

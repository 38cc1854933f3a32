"""A Node as the Fleet API shows it: the stored object with its live figures filled in."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from controlplane.inventory.table import InventoryTable
from controlplane.resources import Condition, EnergyStatus, GpuStatus, Node, NodeStatus
from controlplane.resources.node import CarbonBasis, ForecastPoint, NodeRtt
from tokenplane.v1 import resources_pb2


def ready_condition(ready: bool, reason: str, since: str) -> Condition:
    return Condition(
        type="Ready",
        status="True" if ready else "False",
        reason=reason,
        message="agent stream up, heartbeats fresh" if ready else "agent not reachable",
        last_transition_time=since,
    )


def _carbon_basis(basis: resources_pb2.CarbonBasis | None) -> CarbonBasis | None:
    """The heartbeat's labels as the API shows them (check_heartbeat has vetted the values)."""
    if basis is None:
        return None
    return CarbonBasis.model_validate(
        {name: getattr(basis, name) for name in CarbonBasis.model_fields}
    )


def _forecast(table: InventoryTable, slot: int) -> tuple[list[ForecastPoint], str]:
    """The node's next hours as the scheduler sees them, and where they come from."""
    fleet = table.energy_history.forecast(len(table))
    carbon, price = fleet.carbon_g_per_kwh[slot], fleet.price_per_kwh[slot]
    points = [
        ForecastPoint(
            hour_offset=k + 1,
            carbon_g_per_kwh=round(float(carbon[k]), 1),
            price_per_kwh=0.0 if math.isnan(price[k]) else round(float(price[k]), 4),
        )
        for k in range(len(carbon))
        if not math.isnan(carbon[k])
    ]
    return points, fleet.source[slot]


def with_live_status(
    node: Node,
    table: InventoryTable,
    *,
    wall_now: datetime,
    mono_now_s: float,
    replicas: list[str] | None = None,
) -> Node:
    """Overlays the inventory's live figures on a stored node; unknown nodes keep their status."""
    if node.name not in table:
        return node
    slot = table.slot(node.name)
    stored = node.status or NodeStatus()
    age_s = mono_now_s - float(table.last_heartbeat_s[slot])
    last_seen = (wall_now - timedelta(seconds=age_s)).astimezone(UTC)
    conditions = [c for c in stored.conditions if c.type != "Ready"]
    ready = next((c for c in stored.conditions if c.type == "Ready"), None)
    is_ready = bool(table.ready[slot])
    if ready is None or (ready.status == "True") != is_ready:
        ready = ready_condition(is_ready, "Connected" if is_ready else "NotConnected", "")
    models = table.gpu_models()
    forecast, forecast_source = _forecast(table, slot)
    gpus = [
        GpuStatus(
            model=model,
            memory_gb=float(table.gpu_memory_gb[slot, col]),
            total=int(table.gpus_total[slot, col]),
            free=int(table.gpus_free[slot, col]),
        )
        for col, model in enumerate(models)
        if table.gpus_total[slot, col] > 0
    ]
    status = stored.model_copy(
        update={
            "conditions": [ready, *conditions],
            "last_heartbeat_time": last_seen.isoformat(timespec="seconds").replace("+00:00", "Z")
            if table.last_heartbeat_s[slot]
            else stored.last_heartbeat_time,
            "energy": EnergyStatus(
                it_draw_kw=float(table.it_draw_kw[slot]),
                budget_kw=float(table.budget_kw[slot]),
                renewable_kw=float(table.renewable_kw[slot]),
                carbon_g_per_kwh=float(table.carbon_g_per_kwh[slot]),
                price_per_kwh=float(table.price_per_kwh[slot]),
                source=table.energy_source(slot),
                carbon_basis=_carbon_basis(table.carbon_basis(slot)),
                gpu_power_kw=table.gpu_power_kw(slot),
                forecast=forecast,
                forecast_source=forecast_source,
                curtail_to_kw=table.curtail_to_kw(slot),
            ),
            "gpus": gpus,
            "replicas": replicas if replicas is not None else stored.replicas,
            "rtt": [
                NodeRtt(target=r.target, rtt_ms=round(r.rtt_ms, 3), method=r.method)
                for r in table.node_rtts(node.name)
            ],
        }
    )
    return node.model_copy(update={"status": status})

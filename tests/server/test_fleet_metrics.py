"""The fleet's gauges from a live inventory table, in base units: what an alert reads
when a site draws over its budget, a feed goes stale or heartbeats lag."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from controlplane.inventory import InventoryTable
from controlplane.resources import ModelDeploymentStatus, load_manifests
from controlplane.resources.meta import Condition
from controlplane.server.telemetry import deployment_figures, observe_fleet
from tests.support.processes import write_fleet
from tokenplane.v1 import agent_pb2


def collect(reader: InMemoryMetricReader) -> dict[tuple[str, tuple], float]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        (m.name, tuple(sorted(p.attributes.items()))): p.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.data.data_points
    }


def test_fleet_gauges_read_the_table(tmp_path: Path) -> None:
    table = InventoryTable(interval_s=1.0)
    for node in load_manifests(write_fleet(tmp_path / "f.yaml", 3).read_text()):
        table.upsert(node)  # type: ignore[arg-type]
        table.connect(table.slot(node.name), now_s=0.0)
    beats = {
        "node-0": agent_pb2.Heartbeat(
            it_draw_kw=25, budget_kw=20, renewable_kw=5, carbon_g_per_kwh=360,
            energy_source="renewable=file:/srv/e.json(meter),stale:900s carbon=declared",
        ),
        "node-1": agent_pb2.Heartbeat(it_draw_kw=10, budget_kw=20, renewable_kw=10),
        "node-2": agent_pb2.Heartbeat(it_draw_kw=5, budget_kw=20, carbon_g_per_kwh=720),
    }  # fmt: skip
    for name, beat in beats.items():
        table.heartbeat(table.slot(name), beat, now_s={"node-2": 4.0}.get(name, 9.0))
    statuses = [
        ("chat-eu", ModelDeploymentStatus(attainment=0.97)),
        (
            "chat-asia",
            ModelDeploymentStatus(conditions=[Condition(type="Unschedulable", status="True")]),
        ),
    ]
    reader = InMemoryMetricReader()
    observe_fleet(
        table,
        lambda: {"Running": 2},
        is_leader=lambda: True,
        deployments=lambda: deployment_figures(statuses),
        clock=lambda: 10.0,
        meter=MeterProvider(metric_readers=[reader]).get_meter("test"),
    )
    got = collect(reader)
    assert got[("tokenplane_fleet_power", (("kind", "it_draw"),))] == 40_000  # watts
    assert got[("tokenplane_fleet_power", (("kind", "budget"),))] == 60_000
    # Grid draw (25-5) kW x 360 g/kWh + 5 kW x 720 g/kWh = 10,800 g/h = 3 g/s.
    assert got[("tokenplane_fleet_carbon_emissions", ())] == 3.0
    assert got[("tokenplane_fleet_renewable_ratio", ())] == 15 / 40
    assert got[("tokenplane_nodes_over_power_budget", ())] == 1
    assert got[("tokenplane_nodes_energy_feed_stale", ())] == 1
    assert got[("tokenplane_heartbeat_lag", (("quantile", "1"),))] == 6.0  # node-2, at 4 s
    assert got[("tokenplane_nodes", (("condition", "Ready"),))] == 3
    assert got[("tokenplane_leader", ())] == 1
    assert got[("tokenplane_deployments_unschedulable", ())] == 1
    assert got[("tokenplane_deployment_slo_attainment_ratio", (("deployment", "chat-eu"),))] == (
        0.97
    )

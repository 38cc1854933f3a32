"""The report's DEMAND IN SLO: demand at the points whose routes are within the SLO."""

from __future__ import annotations

from controlplane.localfleet.observe import DeploymentNow, FleetNow, ReplicaNow
from controlplane.localfleet.report import summarise

START_S = 1_700_000_000.0


def _sample(hour: int, *, within: float | None) -> FleetNow:
    # Two replicas serving, each at a placement RTT within the 20 ms SLO: the old measure
    # said 100% though Madrid (a quarter of the demand) is routed at 22 ms.
    replicas = [
        ReplicaNow("edge", name, node, "", "Running", 0.3, 12.0, 100.0, 0.0, "")
        for name, node in (("edge-1", "paris"), ("edge-2", "budapest"))
    ]
    deployment = DeploymentNow(
        "edge", 2, 2, 20.0, 800.0, demand_now=1.0 + hour, demand_within_now=within
    )
    return FleetNow(0.0, START_S + 3600 * hour, 2, 2, 0.6, 0.0, [], replicas, [deployment])


def test_demand_in_slo_is_the_routed_demand_within_it_weighed_by_the_hour() -> None:
    # 1.0 of demand, 0.75 within; then 2.0 of demand, 1.5 within: 2.25 / 3.0.
    report = summarise([_sample(0, within=0.75), _sample(1, within=1.5)])
    (line,) = report.deployments
    assert line.slo_share == 0.75 and report.fleet.slo_share == 0.75


def test_samples_without_routes_count_replicas_as_before() -> None:
    report = summarise([_sample(0, within=None), _sample(1, within=None)])
    assert report.deployments[0].slo_share == 1.0

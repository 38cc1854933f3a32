"""The run's plot: only deployments that ran, moves counted per simulated hour (not one line
per move), the legend beside the axes; from samples as the recorder writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from controlplane.localfleet.observe import DeploymentNow, FleetNow, ReplicaNow
from controlplane.localfleet.report import deployments_that_ran, moves_per_hour, plot

START_S = datetime(2026, 6, 21, 10, 0, tzinfo=UTC).timestamp()


def _replica(name: str, replaces: str = "") -> ReplicaNow:
    return ReplicaNow(
        deployment="chat-eu",
        name=name,
        node="factory-paris",
        city="Paris",
        phase="Running",
        power_kw=1.0,
        rtt_ms=10.0,
        carbon_g_per_kwh=50.0,
        renewable_share=0.5,
        replaces=replaces,
    )


def _sample(minute: int, replicas: list[ReplicaNow]) -> FleetNow:
    return FleetNow(
        wall_s=float(minute),
        sim_s=START_S + 60 * minute,
        nodes_total=2,
        nodes_ready=2,
        it_draw_kw=3.0,
        renewable_used_kw=1.0,
        over_budget=[],
        replicas=replicas,
        deployments=[
            DeploymentNow(
                "chat-eu",
                desired=1,
                running=1,
                latency_slo_ms=40,
                tokens_per_s=1000.0,
                demand_now=1.0,
            ),
            DeploymentNow(
                "never-placed",
                desired=1,
                running=0,
                latency_slo_ms=40,
                tokens_per_s=1000.0,
                demand_now=1.0,
            ),
        ],
    )


def samples() -> list[FleetNow]:
    out = [_sample(m, [_replica("a")]) for m in range(0, 50, 10)]
    out += [_sample(50, [_replica("b", replaces="a")]), _sample(55, [_replica("c", "b")])]
    out += [_sample(m, [_replica("d", "c")]) for m in range(70, 130, 10)]
    return out


def test_only_deployments_that_ran_are_drawn() -> None:
    assert deployments_that_ran(samples()) == ["chat-eu"]


def test_moves_are_counted_per_simulated_hour() -> None:
    hour = datetime(2026, 6, 21, 10, tzinfo=UTC)
    assert moves_per_hour(samples()) == {hour: 2, hour.replace(hour=11): 1}


def test_the_plot_is_drawn(tmp_path: Path) -> None:
    path = tmp_path / "report.png"
    plot(samples(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000

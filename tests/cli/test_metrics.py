"""The arithmetic behind tpctl's columns, and its small parsers, tested without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import pytest

from controlplane.cli import metrics
from controlplane.cli.commands.top import DEPLOYMENT_SORT_KEYS, NODE_SORT_KEYS
from controlplane.cli.describe_view import describe_deployment
from controlplane.cli.kinds import DEPLOYMENT, NODE, split_args
from controlplane.cli.output import age
from controlplane.cli.params import DURATION
from controlplane.cli.top_view import TOP_COLUMNS, deployment_top
from controlplane.resources import (
    EnergyStatus,
    ModelDeployment,
    ModelDeploymentStatus,
    PlacementExplanation,
    ReplicaSummary,
)


def deployment(
    *,
    phases: list[str],
    carbon: list[float],
    rtt: list[float],
    tokens_per_s: str | None = "1000",
    power_kw: float = 0.5,
    demand: bool = True,
) -> ModelDeployment:
    annotations = {metrics.TOKENS_PER_SECOND_ANNOTATION: tokens_per_s} if tokens_per_s else {}
    return ModelDeployment.model_validate(
        {
            "metadata": {"name": "d", "annotations": annotations},
            "spec": {
                "model": {"name": "m"},
                "replicas": len(phases),
                "resources": {"powerKw": power_kw},
                "demand": [{"region": "eu-west"}] if demand else [],
            },
            "status": ModelDeploymentStatus(
                replicas=[
                    ReplicaSummary(
                        name=f"r{i}",
                        node=f"n{i}",
                        phase=phase,
                        placement=PlacementExplanation(carbon_g_per_kwh=c, rtt_ms=r),
                    )
                    for i, (phase, c, r) in enumerate(zip(phases, carbon, rtt, strict=True))
                ]
            ).model_dump(by_alias=True),
        }
    )


def test_renewable_share_and_grid_co2() -> None:
    energy = EnergyStatus(it_draw_kw=4.0, renewable_kw=1.0, carbon_g_per_kwh=200)
    assert metrics.renewable_share(energy) == 0.25
    assert metrics.grid_co2_kg_per_h(energy) == pytest.approx(0.6)  # 3 kW from the grid
    sunny = EnergyStatus(it_draw_kw=2.0, renewable_kw=5.0, carbon_g_per_kwh=200)
    assert metrics.renewable_share(sunny) == 1.0 and metrics.grid_co2_kg_per_h(sunny) == 0
    assert metrics.renewable_share(EnergyStatus(it_draw_kw=0, renewable_kw=3)) is None


def test_percentile_is_nearest_rank() -> None:
    assert metrics.percentile([], 95) is None
    assert metrics.percentile([7.0], 95) == 7.0
    assert metrics.percentile([float(v) for v in range(1, 21)], 95) == 19.0
    assert metrics.percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_rtt_p95_over_placed_replicas_unknown_without_demand() -> None:
    d = deployment(phases=["Running", "Starting"], carbon=[100, 100], rtt=[5.0, 9.0])
    assert metrics.rtt_p95_ms(d) == 9.0
    nowhere = deployment(phases=["Running"], carbon=[1], rtt=[0.0], demand=False)
    assert metrics.rtt_p95_ms(nowhere) is None


def test_carbon_per_million_tokens_counts_serving_replicas() -> None:
    d = deployment(
        phases=["Running", "Running", "Starting"],
        carbon=[100, 300, 900],
        rtt=[1, 1, 1],
        tokens_per_s="1000",
        power_kw=0.5,
    )
    # 0.5 kW x (100 + 300) g/kWh = 200 g/h over 2 x 1000 tok/s x 3600 s = 7.2M tok/h
    assert metrics.carbon_g_per_million_tokens(d) == pytest.approx(200 / 7.2)
    assert metrics.serving_power_kw(d) == 1.0
    assert metrics.serving_co2_kg_per_h(d) == pytest.approx(0.2)


@pytest.mark.parametrize(
    "change",
    [
        {"tokens_per_s": None},
        {"tokens_per_s": "fast"},
        {"tokens_per_s": "-1"},
        {"power_kw": 0.0},
        {"phases": ["Starting"]},
    ],
)
def test_carbon_per_million_tokens_is_unknown_rather_than_invented(change: dict) -> None:
    args = {"phases": ["Running"], "carbon": [100], "rtt": [1.0], **change}
    assert metrics.carbon_g_per_million_tokens(deployment(**args)) is None


def test_top_sort_keys_match_columns() -> None:
    assert tuple(TOP_COLUMNS["Node"]) == NODE_SORT_KEYS
    assert tuple(TOP_COLUMNS["ModelDeployment"]) == DEPLOYMENT_SORT_KEYS


def test_durations() -> None:
    assert DURATION.convert("90s", None, None) == 90
    assert DURATION.convert("1h30m", None, None) == 5400
    assert DURATION.convert("2.5", None, None) == 2.5
    assert DURATION.convert("250ms", None, None) == 0.25
    for bad in ("soon", "5x", "m5", "1h 2m"):
        with pytest.raises(click.BadParameter):
            DURATION.convert(bad, None, None)


def test_split_args() -> None:
    assert split_args(("nodes",)) == [(NODE, "")]
    assert split_args(("deploy", "a", "b")) == [(DEPLOYMENT, "a"), (DEPLOYMENT, "b")]
    assert split_args(("no/a", "md/b")) == [(NODE, "a"), (DEPLOYMENT, "b")]
    with pytest.raises(click.UsageError):
        split_args(("no/a", "b"))
    with pytest.raises(click.BadParameter):
        split_args(("pods",))


def test_age_is_kubectl_compact() -> None:
    now = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)
    assert age("2026-01-02T11:59:15Z", now) == "45s"
    assert age("2026-01-02T11:58:01Z", now) == "119s"
    assert age("2026-01-02T11:58:00Z", now) == "2m"
    assert age("2026-01-02T11:00:00Z", now) == "60m"
    assert age("2025-12-30T12:00:00Z", now) == "3d"
    assert age("", now) is None and age("yesterday", now) is None


def test_top_deployments_never_adds_an_average_to_a_margin() -> None:
    both = deployment(phases=["Running", "Running"], carbon=[100, 400], rtt=[5, 5])
    mixed = deployment_top({"n0": "average/lifecycle", "n1": "marginal/direct"})
    assert mixed["carbon"].value(both) is None and mixed["co2"].value(both) is None
    assert mixed["carbon-per-token"].value(both) is None
    assert mixed["carbon-basis"].value(both) == "mixed"
    alike = deployment_top({"n0": "average/lifecycle", "n1": "average/lifecycle"})
    assert alike["carbon"].value(both) == 250
    assert alike["carbon-per-token"].value(both) == pytest.approx(
        metrics.carbon_g_per_million_tokens(both)
    )
    assert alike["carbon-basis"].value(both) == "average/lifecycle"
    assert deployment_top({})["carbon-basis"].value(both) == "unknown"  # not said: not comparable


def test_describe_deployment_never_sums_an_average_and_a_margin(
    capsys: pytest.CaptureFixture[str],
) -> None:
    both = deployment(phases=["Running", "Running"], carbon=[100, 400], rtt=[5, 5])
    describe_deployment(both, [], {"n0": "average/lifecycle", "n1": "marginal/direct"})
    out = capsys.readouterr().out
    assert (
        "not summed: its nodes' carbon figures are of kinds average/lifecycle, marginal/direct"
        in out
    )
    describe_deployment(both, [], {"n0": "average/lifecycle", "n1": "average/lifecycle"})
    carbon = metrics.carbon_g_per_million_tokens(both)
    assert carbon is not None
    out = capsys.readouterr().out
    assert f"{carbon:.1f} gCO2 per million tokens (average/lifecycle; power declared)" in out


def test_measured_gpu_power_replaces_the_declared_power_kw() -> None:
    both = deployment(phases=["Running", "Running"], carbon=[100, 100], rtt=[5, 5])
    both.spec.resources.gpus = 1
    metered = {"n0": (0.9, 3)}  # n0's GPUs draw 0.9 kW, 3 held by replicas: 0.3 kW each
    assert metrics.serving_power_kw(both) == pytest.approx(1.0)  # 2 x 0.5 declared
    assert metrics.serving_power_kw(both, metered) == pytest.approx(0.3 + 0.5)
    assert metrics.power_source(both, metered) == "mixed"
    assert metrics.power_source(both, {**metered, "n1": (0.4, 1)}) == "measured"
    assert metrics.serving_co2_kg_per_h(both, metered) == pytest.approx(0.8 * 100 / 1000)
    top = deployment_top({"n0": "average/lifecycle", "n1": "average/lifecycle"}, metered)
    assert top["power"].value(both) == pytest.approx(0.8)
    assert top["power-from"].value(both) == "mixed"
    assert top["carbon-per-token"].value(both) == pytest.approx(0.8 * 100 / (2 * 1000 * 3600) * 1e6)

"""Carbon accounting in the report: kinds never added, Scope 2 both ways, measured power first."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controlplane.energy.scope2 import contract_kw, replica_power_kw, site_carbon
from controlplane.localfleet.observe import DeploymentNow, FleetNow, ReplicaNow
from controlplane.localfleet.report import kind_rows, load_samples, summarise
from controlplane.resources import ManifestError, Node, load_manifests
from controlplane.resources.node import CarbonBasis, EnergyContract

NOON = datetime(2023, 6, 21, 12, tzinfo=UTC)
ONTARIO_AVERAGE = CarbonBasis(
    signal="average", scope="lifecycle", provenance="measured", zone="CA-ON"
)
CAISO_MARGIN = CarbonBasis(
    signal="marginal", scope="direct", provenance="forecast", zone="CAISO_NORTH"
)


def ppa(mwh: float, zone: str = "CA-ON") -> EnergyContract:
    """A wind PPA for 2023 (8,760 hours)."""
    return EnergyContract.model_validate(
        {
            "name": "wind-ppa",
            "type": "ppa",
            "mwh": mwh,
            "start": "2023-01-01T00:00:00Z",
            "end": "2024-01-01T00:00:00Z",
            "zone": zone,
        }
    )


def test_a_contract_supplies_its_mwh_spread_over_its_hours_in_its_zone_only() -> None:
    year = ppa(8760)  # 8,760 MWh over 8,760 hours: 1 MW
    assert contract_kw(year, NOON) == pytest.approx(1000)
    assert contract_kw(year, datetime(2024, 1, 1, tzinfo=UTC)) == 0  # past its hours
    # a 2 MW site drawing all from the grid at 100 g/kWh: half covered at 0 g, half at the residual
    both = site_carbon(
        grid_g_per_kwh=100,
        basis=ONTARIO_AVERAGE,
        renewable_share=0.0,
        draw_kw=2000,
        contracts=[year],
        residual_mix_g_per_kwh=140,
        when=NOON,
    )
    assert both.location_g_per_kwh == 100
    assert both.market_g_per_kwh == pytest.approx(70)  # (1000 x 0 + 1000 x 140) / 2000
    assert both.contract_share == pytest.approx(0.5) and not both.residual_is_grid_average
    elsewhere = site_carbon(
        grid_g_per_kwh=100,
        basis=ONTARIO_AVERAGE,
        renewable_share=0.0,
        draw_kw=2000,
        contracts=[ppa(8760, zone="US-NY-NYIS")],
        residual_mix_g_per_kwh=None,
        when=NOON,
    )
    assert elsewhere.market_g_per_kwh == 100 and elsewhere.contract_share == 0  # another market
    assert elsewhere.residual_is_grid_average


def test_on_site_renewables_count_first_and_a_margin_has_no_scope_2_figure() -> None:
    sunny = site_carbon(
        grid_g_per_kwh=100,
        basis=ONTARIO_AVERAGE,
        renewable_share=0.5,
        draw_kw=2000,
        contracts=[ppa(8760 * 2)],  # 2 MW, more than the 1 MW drawn from the grid
        residual_mix_g_per_kwh=None,
        when=NOON,
    )
    assert sunny.location_g_per_kwh == 50 and sunny.market_g_per_kwh == 0
    assert sunny.contract_share == 1
    margin = site_carbon(
        grid_g_per_kwh=400,
        basis=CAISO_MARGIN,
        renewable_share=0.0,
        draw_kw=2000,
        contracts=[ppa(8760, zone="CAISO_NORTH")],
        residual_mix_g_per_kwh=None,
        when=NOON,
    )
    assert margin.market_g_per_kwh is None and margin.location_g_per_kwh == 400


def test_measured_gpu_power_is_shared_by_gpus_else_declared() -> None:
    assert replica_power_kw(0.7, 2, node_gpu_power_kw=1.5, node_gpus_serving=3) == (1.0, True)
    assert replica_power_kw(0.7, 2, node_gpu_power_kw=None, node_gpus_serving=3) == (0.7, False)
    assert replica_power_kw(0.7, 0, node_gpu_power_kw=1.5, node_gpus_serving=3) == (0.7, False)


def replica(
    name: str, node: str, kind: str, carbon: float, market: float | None, **kw: object
) -> ReplicaNow:
    return ReplicaNow(
        deployment="chat",
        name=name,
        node=node,
        city="",
        phase="Running",
        power_kw=1.0,
        rtt_ms=10.0,
        carbon_g_per_kwh=carbon,
        renewable_share=0.0,
        replaces="",
        carbon_kind=kind,
        carbon_provenance="measured" if kind.startswith("average") else "forecast",
        market_carbon_g_per_kwh=market,
        **kw,  # type: ignore[arg-type]
    )


def sample(minute: int, replicas: list[ReplicaNow]) -> FleetNow:
    return FleetNow(
        wall_s=float(minute),
        sim_s=NOON.timestamp() + 60 * minute,
        nodes_total=2,
        nodes_ready=2,
        it_draw_kw=2.0,
        renewable_used_kw=0.0,
        over_budget=[],
        replicas=replicas,
        deployments=[DeploymentNow("chat", 2, 2, 80, tokens_per_s=1000.0, demand_now=1.0)],
    )


def test_the_report_keeps_averages_and_margins_apart() -> None:
    toronto = replica(
        "a",
        "factory-toronto",
        "average/lifecycle",
        100,
        40,
        contract_share=0.6,
        residual_is_grid=False,
        power_measured=True,
    )
    fresno = replica("b", "factory-fresno", "marginal/direct", 400, None)
    report = summarise([sample(m, [toronto, fresno]) for m in range(0, 60, 10)])
    assert report.fleet.carbon_g_per_mtok is None  # 100 and 400 are not one quantity
    assert report.deployments[0].carbon_g_per_mtok is None
    average, marginal = report.carbon_by_kind
    tokens_per_h = 1000 * 3600
    assert average.kind == "average/lifecycle"
    assert average.g_per_mtok == pytest.approx(1.0 * 100 / tokens_per_h * 1e6)
    assert average.market_g_per_mtok == pytest.approx(1.0 * 40 / tokens_per_h * 1e6)
    assert average.token_share == pytest.approx(0.5) and average.contract_share == pytest.approx(
        0.6
    )
    assert average.measured_power_share == 1 and average.provenance == {"measured": 1.0}
    assert marginal.kind == "marginal/direct" and marginal.market_g_per_mtok is None
    assert marginal.g_per_mtok == pytest.approx(400 / tokens_per_h * 1e6)
    assert marginal.measured_power_share == 0 and marginal.provenance == {"forecast": 1.0}
    rows = kind_rows(report)
    assert rows[0][:3] == ["average/lifecycle", "27.8", "11.1"]
    assert rows[1][:3] == ["marginal/direct", "111.1", "-"]


def test_one_kind_keeps_its_headline_and_old_samples_still_load(tmp_path: Path) -> None:
    only = replica("a", "factory-toronto", "average/lifecycle", 100, 100)
    report = summarise([sample(m, [only]) for m in range(0, 60, 10)])
    assert report.fleet.carbon_g_per_mtok == pytest.approx(100 / (1000 * 3600) * 1e6)
    (k,) = report.carbon_by_kind
    assert k.market_g_per_mtok == k.g_per_mtok and k.residual_is_grid  # no contracts: the same
    old = sample(0, [only]).to_json()
    for r in old["replicas"]:  # a sample recorded before figures carried their kind
        for key in ("carbon_kind", "carbon_provenance", "market_carbon_g_per_kwh"):
            del r[key]
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps(old) + "\n")
    (loaded,) = load_samples(path)
    assert loaded.replicas[0].carbon_kind == "unknown"


def test_the_documented_contracts_load() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "energy.md"
    (block,) = re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
    (node,) = load_manifests(block)
    assert isinstance(node, Node)
    (contract,) = node.spec.contracts
    assert contract_kw(contract, NOON) == pytest.approx(1000)  # 8,760 MWh over 2023: 1 MW
    assert node.spec.residual_mix_g_per_kwh == 95
    bad = block.replace('end: "2024-01-01T00:00:00Z"', 'end: "2022-01-01T00:00:00Z"')
    with pytest.raises(ManifestError, match=r"spec\.contracts\[0\]: .*end must be after start"):
        load_manifests(bad)

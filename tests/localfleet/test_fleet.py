"""The pieces of `tpctl up` without processes: the default fleet, modelled solar on a simulated
clock, the documented fleet file, and the report's arithmetic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from agents.config import SolarArray
from agents.energy.clearsky_table import ClearSkyTable, Site
from agents.hollow import build_links, load_fleet
from agents.runtime import Runtime
from agents.simclock import SimClock
from controlplane.localfleet.deployments import EU_COUNTRIES, sample_deployments
from controlplane.localfleet.fleet import default_fleet
from controlplane.localfleet.lifecycle import read_fleet_file
from controlplane.localfleet.observe import DeploymentNow, FleetNow, ReplicaNow
from controlplane.localfleet.report import summarise
from controlplane.resources import ManifestError
from tokenplane.v1 import agent_pb2

DOCS = Path(__file__).parents[2] / "docs" / "fleet-file.md"
DAY = timedelta(days=1)


@pytest.mark.parametrize("n", [30, 100, 1000])
def test_default_fleet_is_valid_unique_and_sized(n: int) -> None:
    import yaml

    nodes = load_fleet(yaml.safe_dump_all(default_fleet(n)), "default")
    assert len(nodes) == n
    assert len({h.node.name for h in nodes}) == n
    factories = [h.node for h in nodes if h.node.spec.tier == "factory"]
    assert factories
    for f in factories:
        assert 2000 <= f.spec.power.budget_kw <= 4000
        assert 100 <= f.spec.capacity.gpus[0].count < 1000  # hundreds of GPUs
    assert all(h.energy is not None and h.energy.source in ("replay", "modelled") for h in nodes)
    replayed = [
        h
        for h in nodes
        if h.node.spec.tier == "factory" and h.energy is not None and h.energy.source == "replay"
    ]
    assert len(replayed) > len(factories) / 2, "most factories sit in zones with real hours"
    eu = [f for f in factories if f.spec.location.country in EU_COUNTRIES]
    assert len(eu) >= 2, "chat-eu spreads over two EU sites"
    assert len(build_links(nodes, "127.0.0.1:1", "token")) == n  # every energy model builds


def test_sample_deployments_have_demand_and_an_slo() -> None:
    names = {d.name for d in sample_deployments()}
    assert names == {"chat-eu", "code-assist-na", "chat-asia", "assistant-edge", "chat-world"}
    for d in sample_deployments():
        assert d.spec.demand and d.spec.latency_slo_ms
        assert sum(p.weight for p in d.spec.demand) > 1  # millions of people


def test_clear_sky_table_matches_pvlib_per_site_model() -> None:
    import pandas as pd

    from agents.energy.modelled import SolarModel

    sites = [
        Site(40.4165, -3.7026, SolarArray(capacity_kwp=1000)),
        Site(-33.8678, 151.2073, SolarArray(capacity_kwp=1000, azimuth_deg=0)),
    ]
    table = ClearSkyTable(sites)
    times = pd.date_range("2026-06-21", periods=288, freq="5min", tz="UTC")
    for i, site in enumerate(sites):
        reference = SolarModel(site.lat, site.lon, site.array).power_kw(times)
        ours = np.array([table.power_kw(i, t.timestamp()) for t in times])
        assert abs(ours.sum() / reference.sum() - 1) < 0.01
        assert np.abs(ours - reference).max() < 20  # kW, of 1,000 kWp


class _Idle:
    def usage(self) -> tuple[dict[str, int], float]:
        return {}, 0.0


def test_hollow_solar_follows_the_simulated_clock() -> None:
    import yaml

    docs = [d for d in default_fleet(100) if d["metadata"]["name"] == "factory-madrid"]
    nodes = load_fleet(yaml.safe_dump_all(docs), "fleet")
    noon = SimClock(datetime(2026, 6, 21, 12, tzinfo=UTC), 3600)  # stopped at noon
    night = SimClock(noon.start, 3600, epoch_s=1000.0, wall=lambda: 1000.0 + 12)  # 00:00
    runtime: Runtime = _Idle()  # type: ignore[assignment]
    by_day = build_links(nodes, "127.0.0.1:1", "t", clock=noon)[0]._telemetry(runtime)
    by_night = build_links(nodes, "127.0.0.1:1", "t", clock=night)[0]._telemetry(runtime)
    assert by_day.renewable_kw > 1500 and by_night.renewable_kw == 0
    assert by_day.carbon_g_per_kwh == by_night.carbon_g_per_kwh > 100  # Spain, annual
    assert by_day.energy_source.startswith("renewable=modelled:pvlib-clearsky@simulated(3600x")


GRID = Path(__file__).parents[3] / "shared" / "data" / "grid"


def _heartbeat_at(name: str, when: datetime) -> agent_pb2.Heartbeat:
    import yaml

    docs = [d for d in default_fleet(100) if d["metadata"]["name"] == name]
    nodes = load_fleet(yaml.safe_dump_all(docs), "fleet")
    runtime: Runtime = _Idle()  # type: ignore[assignment]
    return build_links(nodes, "127.0.0.1:1", "t", clock=SimClock(when, 3600))[0]._telemetry(runtime)


@pytest.mark.skipif(not GRID.exists(), reason="../shared/data/grid (the source CSVs) is absent")
def test_a_factory_in_a_covered_zone_replays_that_zones_real_hours() -> None:
    noon = datetime(2023, 7, 14, 12, tzinfo=UTC)
    today, next_day = (_heartbeat_at("factory-frankfurt-am-main", noon + k * DAY) for k in (0, 1))
    # Electricity Maps' DE zone at that hour (life-cycle), and the day-ahead price.
    assert today.carbon_g_per_kwh == _hourly(GRID / "carbon_2023" / "DE-LU.csv", noon, 5)
    assert today.price_per_kwh == round(_hourly(GRID / "price_2023" / "DE-LU.csv", noon, 2)) / 1000
    assert today.carbon_g_per_kwh != next_day.carbon_g_per_kwh, "days differ"
    assert "carbon=replay:electricitymaps(DE-LU,2023,hourly,lifecycle)" in today.energy_source
    assert "price=replay:day-ahead(DE-LU,2023,hourly)" in today.energy_source
    # The same hour of another year replays 2023's.
    assert _heartbeat_at("factory-frankfurt-am-main", noon.replace(year=2026)).carbon_g_per_kwh == (
        today.carbon_g_per_kwh
    )


def test_a_zone_without_market_prices_replays_carbon_and_declares_its_price() -> None:
    london = _heartbeat_at("factory-london", datetime(2023, 7, 14, 12, tzinfo=UTC))
    assert "carbon=replay:electricitymaps(GB,2023,hourly,lifecycle)" in london.energy_source
    assert "price=declared" in london.energy_source and london.price_per_kwh == 0.0
    assert london.carbon_g_per_kwh > 0


def test_a_factory_outside_every_covered_zone_keeps_the_modelled_figure_said_as_such() -> None:
    noon = datetime(2023, 7, 14, 12, tzinfo=UTC)
    montreal = _heartbeat_at("factory-montreal", noon)
    assert "carbon=modelled:codecarbon-energy-mix(CA," in montreal.energy_source
    assert (
        montreal.carbon_g_per_kwh == _heartbeat_at("factory-montreal", noon + DAY).carbon_g_per_kwh
    )


def _hourly(path: Path, when: datetime, column: int) -> float:
    """The source CSV's value at `when` (rounded as the extract is)."""
    import csv

    stamp = when.strftime("%Y-%m-%d %H:00:00")
    with path.open(encoding="utf-8") as f:
        row = next(r for r in csv.reader(f) if r[0].startswith(stamp))
    return float(round(float(row[column])))


def test_the_documented_fleet_file_is_valid(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)
    assert block
    path = tmp_path / "my-fleet.yaml"
    path.write_text(block[1])
    files = read_fleet_file(path)
    assert len(files.nodes) == 2 and [d.name for d in files.deployments] == ["chat-fr"]
    path.write_text(block[1].replace("capacityKwp: 3000", "capacityKwp: 0"))
    with pytest.raises(ManifestError, match=r"\(document 1\): agent\.energy\.solar\.capacityKwp"):
        read_fleet_file(path)


def test_a_fleet_files_replay_section_reads_the_shipped_extract_and_names_a_bad_zone(
    tmp_path: Path,
) -> None:
    import yaml

    (frankfurt,) = [
        d for d in default_fleet(30) if d["metadata"]["name"] == "factory-frankfurt-am-main"
    ]
    del frankfurt["agent"]["energy"]["path"]  # as a user writes it
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(frankfurt))
    (node,) = read_fleet_file(path).nodes
    assert node["agent"]["energy"]["path"].endswith("grid_2023.npz")
    frankfurt["agent"]["energy"]["zone"] = "DE"
    path.write_text(yaml.safe_dump(frankfurt))
    with pytest.raises(ManifestError, match=r"\(document 1\): agent\.energy: .*'DE'.*DE-LU"):
        read_fleet_file(path)


def _sample(sim_s: float, carbon: float, share: float, rtt_ms: float) -> FleetNow:
    replica = ReplicaNow("d", "d-1", "n", "City", "Running", 2.0, rtt_ms, carbon, share, "")
    return FleetNow(
        0.0, sim_s, 1, 1, 10.0, 5.0, [], [replica], [DeploymentNow("d", 1, 1, 50.0, 1000.0, 3.0)]
    )


def test_report_arithmetic() -> None:
    # an hour at 100 g/kWh then an hour at 0: 2 kW for 2 h = 200 g over 7.2 M tokens
    report = summarise([_sample(0, 100, 0.0, 40), _sample(3600, 0, 1.0, 60)])
    assert report.fleet.carbon_g_per_mtok == pytest.approx(200 / 7.2)
    assert report.fleet.renewable_share == pytest.approx(0.5)
    assert report.fleet.slo_share == pytest.approx(0.5)  # within 50 ms for the first hour only
    assert report.fleet.moves == 0 and report.over_budget == []


def test_shared_clock_stands_still_until_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from agents import simclock

    monkeypatch.setattr(simclock, "RELOAD_S", 0.0)
    path = tmp_path / "clock.json"
    start = datetime(2026, 6, 21, 16, 30, tzinfo=UTC)
    simclock.SimClock(start, 3600).save(path)
    clock = simclock.FileClock(path)
    assert clock.now_s() == start.timestamp()
    time.sleep(0.01)  # a new mtime
    simclock.SimClock(start, 3600, epoch_s=time.time() - 1).save(path)
    assert clock.now_s() >= start.timestamp() + 3600

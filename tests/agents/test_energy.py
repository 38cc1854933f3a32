"""Energy sources: declared, fed by a file or a URL, and modelled from public data."""

from __future__ import annotations

import csv
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pvlib
import pytest

from agents.config import (
    ConfigError,
    FileEnergy,
    HttpEnergy,
    ModelledEnergy,
    SolarArray,
    StaticEnergy,
)
from agents.energy import build_source
from agents.energy.feeds import FileSource, HttpSource, StaticSource, parse_feed
from agents.energy.modelled import ModelledSource, SolarModel, country_carbon
from controlplane.resources import Location

# pvlib 0.16 calls pandas APIs that pandas 3 deprecates (the reference computations below).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pvlib")

MUNICH = Location(lat=48.14, lon=11.58, country="DE", region="eu-central")
SYDNEY = Location(lat=-33.87, lon=151.21, country="AU")
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_static_figures_are_declared() -> None:
    source = build_source(
        StaticEnergy(source="static", renewable_kw=3, carbon_g_per_kwh=120, price_per_kwh=0.1),
        MUNICH,
    )
    assert isinstance(source, StaticSource)
    reading = source.read()
    assert reading.carbon_g_per_kwh is not None and reading.carbon_g_per_kwh.value == 120
    assert reading.renewable_kw is not None and reading.renewable_kw.origin == "declared"
    assert reading.it_draw_kw is None  # no meter declared: telemetry finds one


def test_file_source_follows_the_file_and_keeps_the_last_good_figures(tmp_path: Path) -> None:
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"renewableKw": 7.5, "carbonGPerKwh": 150, "origin": "ems"}))
    now = [1000.0]
    source = FileSource(FileEnergy(source="file", path=path, max_age_seconds=60), lambda: now[0])
    reading = source.read()
    assert reading.renewable_kw is not None and reading.renewable_kw.value == 7.5
    assert reading.renewable_kw.origin == f"file:{path}(ems)"
    assert reading.price_per_kwh is None

    path.write_text(json.dumps({"renewableKw": 2, "carbonGPerKwh": 160, "itDrawKw": 4}))
    os.utime(path, ns=(1, 2))  # a different mtime, whatever the clock's resolution
    reading = source.read()
    assert reading.renewable_kw is not None and reading.renewable_kw.value == 2
    assert reading.it_draw_kw is not None and reading.it_draw_kw.value == 4

    path.write_text("{not json")
    os.utime(path, ns=(3, 4))
    reading = source.read()
    assert reading.carbon_g_per_kwh is not None and reading.carbon_g_per_kwh.value == 160
    now[0] += 120
    reading = source.read()
    assert reading.carbon_g_per_kwh is not None
    assert reading.carbon_g_per_kwh.origin.endswith(",stale:120s")


def test_file_time_field_dates_the_figures(tmp_path: Path) -> None:
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"carbonGPerKwh": 90, "time": "2024-06-21T12:00:00Z"}))
    when = datetime(2024, 6, 21, 12, 10, tzinfo=UTC).timestamp()
    source = FileSource(FileEnergy(source="file", path=path, max_age_seconds=300), lambda: when)
    reading = source.read()
    assert reading.carbon_g_per_kwh is not None
    assert reading.carbon_g_per_kwh.origin == f"file:{path},stale:600s"
    assert reading.carbon_basis is not None  # unsaid: an average, the site's word, now stale
    assert reading.carbon_basis.label() == "average/lifecycle/declared,stale"
    assert reading.carbon_basis.age_seconds == 600


def test_a_feed_document_says_what_its_carbon_figure_is(tmp_path: Path) -> None:
    path = tmp_path / "site.json"
    doc = {
        "carbonGPerKwh": 512,
        "carbonSignal": "marginal",
        "carbonScope": "direct",
        "carbonProvenance": "forecast",
        "zone": "CAISO_NORTH",
        "origin": "watttime",
    }
    path.write_text(json.dumps(doc))
    reading = FileSource(FileEnergy(source="file", path=path)).read()
    basis = reading.carbon_basis
    assert basis is not None and basis.label() == "marginal/direct/forecast"
    assert (basis.zone, basis.provider) == ("CAISO_NORTH", "watttime")
    path.write_text(json.dumps({**doc, "carbonSignal": "avg"}))
    os.utime(path, ns=(1, 2))
    with pytest.raises(ValueError, match="carbonSignal: Input should be 'average' or 'marginal'"):
        parse_feed(path.read_bytes(), str(path))


@pytest.fixture
def feed_server() -> Iterator[tuple[str, dict[str, object]]]:
    body: dict[str, object] = {"renewableKw": 11, "pricePerKwh": -0.01, "budgetKw": 15}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/energy", body
    server.shutdown()
    server.server_close()


def test_http_source_polls_the_url(feed_server: tuple[str, dict[str, object]]) -> None:
    import asyncio

    url, body = feed_server
    source = HttpSource(HttpEnergy(source="http", url=url, timeout_seconds=2))
    assert source.read().renewable_kw is None  # nothing fetched yet

    async def poll() -> None:
        await source.poll()

    asyncio.run(poll())
    reading = source.read()
    assert reading.renewable_kw is not None and reading.renewable_kw.value == 11
    assert reading.renewable_kw.origin == f"http:{url}"
    assert reading.price_per_kwh is not None and reading.price_per_kwh.value == -0.01
    assert reading.budget_kw is not None and reading.budget_kw.value == 15

    body["renewableKw"] = -1  # invalid: refused, the last good figures stay
    asyncio.run(poll())
    reading = source.read()
    assert reading.renewable_kw is not None and reading.renewable_kw.value == 11


def pvlib_reference_kw(loc: Location, array: SolarArray, when: datetime) -> float:
    """The same clear-sky PV output, computed here step by step with pvlib's own functions."""
    site = pvlib.location.Location(loc.lat, loc.lon, tz="UTC")
    times = pd.DatetimeIndex([when])
    sky = site.get_clearsky(times, model="ineichen")
    sun = site.get_solarposition(times)
    poa = pvlib.irradiance.get_total_irradiance(
        array.tilt_deg,
        array.azimuth_deg,
        sun["apparent_zenith"],
        sun["azimuth"],
        sky["dni"],
        sky["ghi"],
        sky["dhi"],
    )["poa_global"].iloc[0]
    return max(0.0, array.capacity_kwp * poa / 1000 * (1 - array.losses_percent / 100))


def test_modelled_solar_rises_and_falls_with_the_sun_and_matches_pvlib() -> None:
    array = SolarArray(capacity_kwp=50, tilt_deg=30, azimuth_deg=180)
    source = ModelledSource(
        ModelledEnergy(source="modelled", solar=array, price_per_kwh=0.2), MUNICH
    )
    day = [datetime(2024, 6, 21, hour, tzinfo=UTC) for hour in range(24)]
    curve = [source.reading_at(t).renewable_kw.value for t in day]  # type: ignore[union-attr]

    for hour in (0, 5, 8, 11, 14, 17, 20):
        expected = pvlib_reference_kw(MUNICH, array, day[hour])
        assert curve[hour] == pytest.approx(expected, rel=1e-6, abs=1e-6), hour
    assert curve[0] == curve[22] == 0.0  # night
    peak = max(range(24), key=curve.__getitem__)
    assert peak == 11  # solar noon in Munich is about 11:15 UTC
    assert all(curve[h] < curve[h + 1] for h in range(4, 11))  # rising in the morning
    assert all(curve[h] > curve[h + 1] for h in range(11, 19))  # falling in the afternoon
    assert 35 < curve[peak] < 45  # 50 kWp, clear sky, 14 % losses

    winter = source.reading_at(datetime(2024, 12, 21, 11, tzinfo=UTC)).renewable_kw
    assert winter is not None and 0 < winter.value < curve[11]
    reading = source.reading_at(day[11])
    assert reading.renewable_kw is not None
    assert reading.renewable_kw.origin == "modelled:pvlib-clearsky"
    assert reading.price_per_kwh is not None and reading.price_per_kwh.origin == "declared"


def test_modelled_solar_in_the_southern_hemisphere_faces_north() -> None:
    array = SolarArray(capacity_kwp=10, tilt_deg=30, azimuth_deg=0)
    model = SolarModel(SYDNEY.lat, SYDNEY.lon, array)
    times = pd.date_range("2024-12-21", periods=24, freq="1h", tz="UTC")
    curve = model.power_kw(times)
    assert int(curve.argmax()) in (1, 2)  # local solar noon ≈ 01:56 UTC
    assert curve[12] == 0.0  # 23:00 local
    noon = datetime(2024, 12, 21, 2, tzinfo=UTC)
    assert model.power_kw_at(noon) == pytest.approx(pvlib_reference_kw(SYDNEY, array, noon))


def test_modelled_source_recomputes_only_every_interval() -> None:
    now = [datetime(2024, 6, 21, 6, tzinfo=UTC).timestamp()]
    source = ModelledSource(
        ModelledEnergy(source="modelled", solar=SolarArray(capacity_kwp=5), recompute_seconds=60),
        MUNICH,
        clock=lambda: now[0],
    )
    first = source.read()
    now[0] += 30
    assert source.read() is first
    now[0] += 3600
    later = source.read()
    assert later.renewable_kw is not None and first.renewable_kw is not None
    assert later.renewable_kw.value > first.renewable_kw.value  # the sun climbed


# Published figures, copied by hand from codecarbon 3.3.2's
# data/private_infra/global_energy_mix.json ("carbon_intensity", "year").
PUBLISHED = {
    "DE": (380.95, 2023),
    "FR": (56.039, 2023),
    "GB": (237.589, 2023),
    "US": (369.473, 2023),
    "ZA": (707.686, 2023),
    "AE": (561.135, 2022),
}


@pytest.mark.parametrize("country", sorted(PUBLISHED))
def test_grid_carbon_is_the_published_figure(country: str) -> None:
    carbon = country_carbon(country)
    assert carbon is not None
    assert (carbon.g_per_kwh, carbon.year) == PUBLISHED[country]
    source = ModelledSource(ModelledEnergy(source="modelled", country=country), MUNICH)
    reading = source.read()
    assert reading.carbon_g_per_kwh is not None
    assert reading.carbon_g_per_kwh.value == PUBLISHED[country][0]
    assert reading.carbon_g_per_kwh.origin.startswith("modelled:codecarbon-energy-mix(")
    assert reading.renewable_kw is not None and reading.renewable_kw.value == 0


@pytest.mark.parametrize(("country", "zone"), [("DE", "DE-LU"), ("ZA", "ZA")])
def test_grid_carbon_agrees_with_measured_hourly_data(country: str, zone: str) -> None:
    """An independent source: Electricity Maps' 2023 hourly life-cycle intensity, averaged."""
    path = SHARED_DATA / "grid" / "carbon_2023" / f"{zone}.csv"
    if not path.exists():
        pytest.skip(f"shared data not here: {path}")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    lca = [float(r["Carbon Intensity gCO₂eq/kWh (LCA)"]) for r in rows]
    measured = sum(lca) / len(lca)
    carbon = country_carbon(country)
    assert carbon is not None and carbon.year == 2023
    assert carbon.g_per_kwh == pytest.approx(measured, rel=0.1)


def test_modelled_needs_a_country_with_published_figures() -> None:
    nowhere = Location(lat=0, lon=0)
    with pytest.raises(ConfigError, match=r"agent\.energy\.country: needed"):
        ModelledSource(ModelledEnergy(source="modelled"), nowhere)
    with pytest.raises(ConfigError, match="no published grid carbon for 'XX'"):
        ModelledSource(ModelledEnergy(source="modelled", country="XX"), nowhere)

"""The `electricitymaps` and `watttime` sources against fakes of the providers' APIs.

The fakes (tests/support/fake_grid_apis.py) are real HTTP servers on loopback
answering in each provider's v3 format with real 2023 hours; the sources poll
them as they would the real APIs. The clock is the test's: the providers' hour
and the figures' age move with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.config import ConfigError, ElectricityMapsEnergy, WattTimeEnergy, parse_config
from agents.energy import build_source
from agents.energy.electricitymaps import ElectricityMapsSource
from agents.energy.watttime import G_PER_KWH_PER_LB_PER_MWH, WattTimeSource
from agents.energy.zones import ZONES, zone_at
from controlplane.resources import Location
from tests.support.fake_grid_apis import FakeElectricityMaps, FakeWattTime, load_hours

TORONTO = Location(lat=43.65, lon=-79.38, country="CA")
TOKYO = Location(lat=35.68, lon=139.69, country="JP")
SAN_FRANCISCO = Location(lat=37.77, lon=-122.42, country="US")
NOON = datetime(2023, 6, 21, 12, 10, tzinfo=UTC).timestamp()  # 10 minutes into the noon hour


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def em(clock: Clock) -> Iterator[FakeElectricityMaps]:
    fake = FakeElectricityMaps(clock)
    yield fake
    fake.stop()


@pytest.fixture
def wt(clock: Clock) -> Iterator[FakeWattTime]:
    fake = FakeWattTime(clock)
    yield fake
    fake.stop()


@pytest.fixture
def em_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", FakeElectricityMaps.KEY)
    return FakeElectricityMaps.KEY


@pytest.fixture
def wt_password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WATTTIME_PASSWORD", FakeWattTime.PASSWORD)
    return FakeWattTime.PASSWORD


def hour(zone: str, h: int) -> tuple[float, float]:
    """(direct, lifecycle) g/kWh of the replayed hour h of 2023-06-21."""
    row = load_hours()[zone][h]
    return row.direct_g_per_kwh, row.lifecycle_g_per_kwh


# Electricity Maps ------------------------------------------------------------------------


def test_electricitymaps_figure_is_the_zones_average_labelled_as_such(
    em: FakeElectricityMaps, clock: Clock, em_key: str
) -> None:
    source = ElectricityMapsSource(
        ElectricityMapsEnergy(source="electricitymaps", url=f"{em.url}/v3", price_per_kwh=0.09),
        TORONTO,
        clock,
    )
    assert source.poller.poll_if_due()
    reading = source.read()
    assert reading.carbon_g_per_kwh is not None
    assert reading.carbon_g_per_kwh.value == hour("CA-ON", 12)[1]  # lifecycle by default
    assert reading.carbon_g_per_kwh.origin == "electricitymaps:CA-ON"
    basis = reading.carbon_basis
    assert basis is not None
    assert (basis.signal, basis.scope, basis.provenance) == ("average", "lifecycle", "measured")
    assert (basis.zone, basis.provider, basis.stale) == ("CA-ON", "electricitymaps", False)
    assert basis.time == "2023-06-21T12:00:00Z" and basis.age_seconds == 600
    assert reading.price_per_kwh is not None and reading.price_per_kwh.value == 0.09
    # the zone came from the site's coordinates; the key went in the header only
    (latest,) = em.calls("/carbon-intensity/latest")
    assert latest.query["zone"] == "CA-ON" and latest.headers["auth-token"] == em_key
    assert em_key not in str(latest.query)
    # the forecast: the next hours, as the provider gives them
    forecast = source.poller.forecast()
    assert len(forecast) == 24
    assert forecast[0].time == datetime(2023, 6, 21, 13, tzinfo=UTC)
    assert forecast[0].carbon_g_per_kwh == hour("CA-ON", 13)[1]


def test_electricitymaps_direct_and_estimated_hours_say_so(
    em: FakeElectricityMaps, clock: Clock, tmp_path: Path
) -> None:
    key_file = tmp_path / "em.key"
    key_file.write_text(FakeElectricityMaps.KEY + "\n")
    source = ElectricityMapsSource(
        ElectricityMapsEnergy(
            source="electricitymaps",
            url=f"{em.url}/v3",
            api_key_file=key_file,
            emission_factor_type="direct",
            forecast_hours=0,
        ),
        TOKYO,
        clock,
    )
    source.poller.poll_if_due()
    reading = source.read()
    assert reading.carbon_g_per_kwh is not None and reading.carbon_basis is not None
    assert reading.carbon_g_per_kwh.value == hour("JP-TK", 12)[0]
    assert reading.carbon_basis.label() == "average/direct/modelled"  # an estimate, not a meter
    assert (
        reading.carbon_g_per_kwh.origin
        == "electricitymaps:JP-TK(estimated:ESTIMATED_MODE_BREAKDOWN)"
    )
    assert em.calls("/forecast") == []  # forecastHours: 0 asks for none


def test_electricitymaps_site_outside_the_zone_table_is_located_by_the_api(
    em: FakeElectricityMaps, clock: Clock, em_key: str
) -> None:
    montreal = Location(lat=45.50, lon=-73.57, country="CA")  # Québec: not in the table
    source = ElectricityMapsSource(
        ElectricityMapsEnergy(source="electricitymaps", url=f"{em.url}/v3"), montreal, clock
    )
    source.poller.poll_if_due()
    (latest,) = em.calls("/carbon-intensity/latest")
    assert "zone" not in latest.query
    assert (latest.query["lat"], latest.query["lon"]) == ("45.5", "-73.57")
    # the fake has no Québec hours: no figure, rather than Ontario's
    assert source.read().carbon_g_per_kwh is None
    assert "/carbon-intensity/latest: HTTP 404" in source.poller.error


def test_electricitymaps_is_asked_once_per_update_interval(
    em: FakeElectricityMaps, clock: Clock, em_key: str
) -> None:
    source = ElectricityMapsSource(
        ElectricityMapsEnergy(source="electricitymaps", url=f"{em.url}/v3"), TORONTO, clock
    )
    for _ in range(10):  # heartbeats and polls within 15 minutes
        source.poller.poll_if_due()
        source.read()
        clock.t += 60
    assert len(em.calls("/latest")) == 1
    clock.t = NOON + 900
    source.poller.poll_if_due()
    assert len(em.calls("/latest")) == 2
    assert len(em.calls("/forecast")) == 1  # the forecast is hourly


def test_electricitymaps_rate_limit_is_honoured_for_its_retry_after(
    em: FakeElectricityMaps, clock: Clock, em_key: str
) -> None:
    source = ElectricityMapsSource(
        ElectricityMapsEnergy(source="electricitymaps", url=f"{em.url}/v3"), TORONTO, clock
    )
    source.poller.poll_if_due()
    first = source.read().carbon_g_per_kwh
    clock.t += 900
    em.fail_next(429, {"Retry-After": "3600"})
    source.poller.poll_if_due()
    assert "rate limited" in source.poller.error and "3600 s" in source.poller.error
    assert source.read().carbon_g_per_kwh == first  # the last figure stays, with its age
    clock.t += 1800  # past the interval, but not past Retry-After
    assert not source.poller.poll_if_due()
    clock.t += 1800
    assert source.poller.poll_if_due() and source.poller.error == ""
    assert len(em.calls("/latest")) == 3


def test_electricitymaps_figure_goes_stale_after_max_age_and_says_so(
    em: FakeElectricityMaps, clock: Clock, em_key: str
) -> None:
    source = ElectricityMapsSource(
        ElectricityMapsEnergy(
            source="electricitymaps", url=f"{em.url}/v3", max_age_seconds=3600, forecast_hours=0
        ),
        TORONTO,
        clock,
    )
    source.poller.poll_if_due()
    em.fail_next(503, times=10)  # the provider is down from here on
    clock.t += 2 * 3600
    source.poller.poll_if_due()
    reading = source.read()
    assert reading.carbon_basis is not None and reading.carbon_basis.stale
    assert reading.carbon_basis.label() == "average/lifecycle/measured,stale"
    assert reading.carbon_basis.age_seconds == 600 + 2 * 3600
    assert reading.carbon_g_per_kwh is not None
    assert reading.carbon_g_per_kwh.origin == "electricitymaps:CA-ON,stale:7800s"
    assert "HTTP 503" in source.poller.error


def test_electricitymaps_wrong_key_gives_no_figure_and_never_logs_the_key(
    em: FakeElectricityMaps,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "em-wrong-key-0123456789"
    monkeypatch.setenv("EM_KEY", wrong)
    source = ElectricityMapsSource(
        ElectricityMapsEnergy(source="electricitymaps", url=f"{em.url}/v3", api_key_env="EM_KEY"),
        TORONTO,
        clock,
    )
    with caplog.at_level(logging.DEBUG):
        source.poller.poll_if_due()
    assert source.read().carbon_g_per_kwh is None  # unknown, not zero
    assert "/carbon-intensity/latest: HTTP 401 (key or login refused)" in source.poller.error
    assert "HTTP 401" in caplog.text and wrong not in caplog.text


def test_electricitymaps_config_errors_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELECTRICITYMAPS_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="apiKeyEnv: the environment variable ELECTRICITYMAPS"):
        build_source(ElectricityMapsEnergy(source="electricitymaps"), TORONTO)
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "k" * 20)
    with pytest.raises(ConfigError, match=r"agent\.energy\.url: .* must be https"):
        build_source(
            ElectricityMapsEnergy(source="electricitymaps", url="http://em.example/v3"), TORONTO
        )
    with pytest.raises(ConfigError, match="apiKeyFile: /nonexistent/key: No such file"):
        build_source(
            ElectricityMapsEnergy(source="electricitymaps", api_key_file=Path("/nonexistent/key")),
            TORONTO,
        )


def test_node_yaml_accepts_the_feed_sources_and_names_bad_fields() -> None:
    doc = {
        "metadata": {"name": "factory-toronto"},
        "spec": {
            "tier": "factory",
            "location": {"lat": 43.65, "lon": -79.38},
            "power": {"budgetKw": 900},
        },
        "agent": {
            "energy": {"source": "watttime", "username": "ops", "intervalSeconds": 10},
            "runtime": {"driver": "process", "templates": {"vllm": {"command": "vllm"}}},
        },
    }
    with pytest.raises(ConfigError, match=r"energy\.intervalSeconds: Input should be greater"):
        parse_config(doc)
    doc["agent"]["energy"] = {"source": "electricitymaps", "zone": "CA-ON"}  # type: ignore[index]
    assert parse_config(doc).agent.energy.source == "electricitymaps"


# WattTime --------------------------------------------------------------------------------


def test_watttime_figure_is_marginal_from_a_login_token_and_the_region_of_the_site(
    wt: FakeWattTime, clock: Clock, wt_password: str
) -> None:
    source = WattTimeSource(
        WattTimeEnergy(source="watttime", username=FakeWattTime.USER, url=wt.url),
        SAN_FRANCISCO,
        clock,
    )
    assert source.poller.poll_if_due()
    reading = source.read()
    assert reading.carbon_g_per_kwh is not None and reading.carbon_basis is not None
    # the fake serves the hour's direct average as the marginal rate, in lbs/MWh (1 decimal)
    assert reading.carbon_g_per_kwh.value == pytest.approx(hour("US-CAL-CISO", 12)[0], abs=0.05)
    assert reading.carbon_basis.label() == "marginal/direct/forecast"
    assert reading.carbon_basis.zone == "CAISO_NORTH"
    assert reading.carbon_basis.time == "2023-06-21T12:10:00Z"
    assert reading.carbon_g_per_kwh.origin.startswith("watttime:CAISO_NORTH(index=")
    (login,) = wt.calls("/login")
    assert login.headers["authorization"].startswith("Basic ")
    (region,) = wt.calls("/region-from-loc")
    assert region.query == {"latitude": "37.77", "longitude": "-122.42", "signal_type": "co2_moer"}
    (forecast,) = wt.calls("/v3/forecast")
    assert forecast.headers["authorization"].startswith("Bearer ")
    hourly = source.poller.forecast()
    assert [p.time.hour for p in hourly[:3]] == [13, 14, 15]
    assert hourly[0].carbon_g_per_kwh == pytest.approx(hour("US-CAL-CISO", 13)[0], abs=0.05)
    assert pytest.approx(453.59237 / 1000) == G_PER_KWH_PER_LB_PER_MWH


def test_watttime_logs_in_again_when_its_token_expires(
    wt: FakeWattTime, clock: Clock, wt_password: str
) -> None:
    source = WattTimeSource(
        WattTimeEnergy(source="watttime", username=FakeWattTime.USER, url=wt.url, region="JP_TK"),
        TOKYO,
        clock,
    )
    source.poller.poll_if_due()
    wt.expire_tokens()  # revoked early: a 401, one fresh login, the same request again
    clock.t += 300
    source.poller.poll_if_due()
    assert source.poller.error == ""
    assert len(wt.calls("/login")) == 2 and wt.calls("/region-from-loc") == []
    clock.t += 1800  # the token's own lifetime: logs in before it runs out
    source.poller.poll_if_due()
    assert len(wt.calls("/login")) == 3


def test_watttime_plan_without_forecasts_gives_no_figure_rather_than_a_guess(
    clock: Clock, wt_password: str
) -> None:
    fake = FakeWattTime(clock, forecasts=False)
    try:
        source = WattTimeSource(
            WattTimeEnergy(source="watttime", username=FakeWattTime.USER, url=fake.url),
            SAN_FRANCISCO,
            clock,
        )
        source.poller.poll_if_due()
        assert source.read().carbon_g_per_kwh is None
        assert source.poller.error == ""
        assert len(fake.calls("/signal-index")) == 1
    finally:
        fake.stop()


def test_watttime_wrong_password_and_rate_limit(
    wt: FakeWattTime,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("WATTTIME_PASSWORD", "not-the-password-123")
    source = WattTimeSource(
        WattTimeEnergy(source="watttime", username=FakeWattTime.USER, url=wt.url),
        SAN_FRANCISCO,
        clock,
    )
    with caplog.at_level(logging.DEBUG):
        source.poller.poll_if_due()
    assert "/login: HTTP 403" in source.poller.error
    assert "not-the-password-123" not in caplog.text
    monkeypatch.setenv("WATTTIME_PASSWORD", FakeWattTime.PASSWORD)
    source = WattTimeSource(
        WattTimeEnergy(source="watttime", username=FakeWattTime.USER, url=wt.url),
        SAN_FRANCISCO,
        clock,
    )
    http_date = "Wed, 21 Jun 2023 12:40:00 GMT"  # Retry-After as a date: 30 minutes from now
    wt.fail_next(429, {"Retry-After": http_date})
    source.poller.poll_if_due()
    assert "rate limited" in source.poller.error and "1800 s" in source.poller.error
    clock.t += 1799
    assert not source.poller.poll_if_due()
    clock.t += 1
    assert source.poller.poll_if_due() and source.read().carbon_g_per_kwh is not None


# Zones -----------------------------------------------------------------------------------

SHARED_ZONES = {
    "US-CAL-CISO", "US-TEX-ERCO", "US-NY-NYIS", "US-MIDA-PJM", "DE-LU", "GB", "CA-ON", "BR-SP",
    "CL-SIC", "ZA", "AU-NSW", "AU-VIC", "IN-WE", "JP-TK", "KR", "SG",
}  # fmt: skip


def test_zone_table_covers_the_zones_with_real_hours_each_at_its_centroid() -> None:
    assert {z.name for z in ZONES} == SHARED_ZONES
    for z in ZONES:
        assert zone_at(*z.centroid, country=z.countries[0]) == z.name


@pytest.mark.parametrize(
    ("lat", "lon", "country", "zone"),
    [
        (43.65, -79.38, "CA", "CA-ON"),  # Toronto
        (45.50, -73.57, "CA", None),  # Montréal: Québec's grid, not Ontario's
        (40.71, -74.01, "US", "US-NY-NYIS"),  # New York City
        (40.74, -74.17, "US", "US-MIDA-PJM"),  # Newark, NJ
        (41.88, -87.63, "US", "US-MIDA-PJM"),  # Chicago (ComEd)
        (36.17, -115.14, "US", None),  # Las Vegas: Nevada, not California
        (52.52, 13.40, "DE", "DE-LU"),  # Berlin
        (52.37, 4.90, "NL", None),  # Amsterdam: in DE-LU's box, not its country
        (-37.81, 144.96, "AU", "AU-VIC"),  # Melbourne
        (-33.87, 151.21, "AU", "AU-NSW"),  # Sydney
        (1.29, 103.85, "", "SG"),  # no country said: the boxes alone
    ],
)
def test_zone_at_known_places(lat: float, lon: float, country: str, zone: str | None) -> None:
    assert zone_at(lat, lon, country) == zone

"""A provider's forecast goes on the heartbeat as hours after the current one.

The provider is tests/support/fake_grid_apis.py's Electricity Maps: a real HTTP
server on loopback answering in its v3 format with real 2023 hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from agents.config import ElectricityMapsEnergy
from agents.energy.electricitymaps import ElectricityMapsSource
from agents.energy.gridfeeds import HourlyPoint, hours_ahead
from agents.telemetry import NodeTelemetry
from controlplane.resources import Location, Node, load_manifests
from tests.agents.support import StillRuntime
from tests.support.fake_grid_apis import FakeElectricityMaps, load_hours

TORONTO = Location(lat=43.65, lon=-79.38, country="CA")
NOON_10 = datetime(2023, 6, 21, 12, 10, tzinfo=UTC)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def em(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeElectricityMaps, Clock]]:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", FakeElectricityMaps.KEY)
    clock = Clock(NOON_10.timestamp())
    fake = FakeElectricityMaps(clock)
    yield fake, clock
    fake.stop()


def site() -> Node:
    (n,) = load_manifests("""
apiVersion: tokenplane.io/v1
kind: Node
metadata: {name: factory-toronto}
spec:
  tier: factory
  location: {lat: 43.65, lon: -79.38, country: CA}
  capacity: {gpus: [{model: H100, memoryGb: 80, count: 8}]}
  power: {budgetKw: 500}
""")
    assert isinstance(n, Node)
    return n


def test_the_providers_forecast_is_on_the_heartbeat_hour_by_hour(
    em: tuple[FakeElectricityMaps, Clock],
) -> None:
    fake, clock = em
    source = ElectricityMapsSource(
        ElectricityMapsEnergy(source="electricitymaps", url=f"{fake.url}/v3"), TORONTO, clock
    )
    assert source.poller.poll_if_due()
    beat = NodeTelemetry(site(), source, None)(StillRuntime())  # type: ignore[arg-type]
    assert len(beat.forecast) == 24
    first = beat.forecast[0]
    assert first.hour_offset == 1  # 13:00, the next hour
    assert first.carbon_g_per_kwh == load_hours()["CA-ON"][13].lifecycle_g_per_kwh
    assert [p.hour_offset for p in beat.forecast] == list(range(1, 25))
    assert all(p.price_per_kwh == 0 for p in beat.forecast)  # carbon only: the server keeps ours
    # Three hours later, without a new forecast, the hours that have begun are gone.
    clock.t += 3 * 3600
    later = NodeTelemetry(site(), source, None)(StillRuntime())  # type: ignore[arg-type]
    assert later.forecast[0].hour_offset == 1
    assert later.forecast[0].carbon_g_per_kwh == load_hours()["CA-ON"][16].lifecycle_g_per_kwh


def test_hours_ahead_counts_from_the_current_hour() -> None:
    at = NOON_10.replace(minute=0)
    points = tuple(HourlyPoint(at + timedelta(hours=h), 100.0 + h) for h in range(-1, 3))
    ahead = hours_ahead(points, NOON_10.timestamp())
    assert [(f.hour_offset, f.carbon_g_per_kwh) for f in ahead] == [(1, 101.0), (2, 102.0)]
    assert hours_ahead(points, (NOON_10 - timedelta(minutes=11)).timestamp())[0].hour_offset == 1

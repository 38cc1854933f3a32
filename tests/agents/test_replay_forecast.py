"""A replayed zone sends a forecast made from its past week only, as a feed would send one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.hollow import build_links, load_fleet
from agents.simclock import SimClock
from controlplane.energy.forecast import seasonal_naive
from controlplane.localfleet.fleet import default_fleet
from tests.agents.support import StillRuntime
from tokenplane.v1 import agent_pb2

EXTRACT = Path(__file__).parents[2] / "controlplane" / "localfleet" / "data" / "grid_2023.npz"


def heartbeat(name: str, when: datetime) -> agent_pb2.Heartbeat:
    docs = [d for d in default_fleet(100) if d["metadata"]["name"] == name]
    nodes = load_fleet(yaml.safe_dump_all(docs), "fleet")
    link = build_links(nodes, "127.0.0.1:1", "t", clock=SimClock(when, 3600))[0]
    return link._telemetry(StillRuntime())  # type: ignore[arg-type]


def zone_hours(zone: str) -> np.ndarray:
    with np.load(EXTRACT) as data:
        row = [str(z) for z in data["zones"]].index(zone)
        return data["carbon_lca_g_per_kwh"][row].astype(np.float64)


@pytest.mark.skipif(not EXTRACT.exists(), reason="the replay extract is absent")
def test_a_replayed_factory_forecasts_from_the_week_before_never_the_replayed_future() -> None:
    noon = datetime(2023, 7, 14, 12, tzinfo=UTC)
    beat = heartbeat("factory-frankfurt-am-main", noon)
    assert [p.hour_offset for p in beat.forecast] == list(range(1, 25))
    hour = (noon - datetime(2023, 1, 1, tzinfo=UTC)).days * 24 + 12
    carbon = zone_hours("DE-LU")
    expected = seasonal_naive(carbon[None, hour - 168 : hour + 1], 24)[0]
    assert [p.carbon_g_per_kwh for p in beat.forecast] == pytest.approx(expected, abs=0.05)
    actual = carbon[hour + 1 : hour + 25]
    assert not np.allclose([p.carbon_g_per_kwh for p in beat.forecast], actual)
    assert all(p.price_per_kwh != 0 for p in beat.forecast)  # DE-LU has day-ahead prices


def test_a_modelled_factory_sends_no_forecast() -> None:
    beat = heartbeat("factory-montreal", datetime(2023, 7, 14, 12, tzinfo=UTC))
    assert len(beat.forecast) == 0

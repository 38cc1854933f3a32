"""Distances, RTT from distance, demand resolution and the demand-weighted RTT vector."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.scheduler import geo
from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.request import Demand
from tests.scheduler.fleets import FakeNode, snapshot_of

LONDON, PARIS, NEW_YORK = (51.5074, -0.1278), (48.8566, 2.3522), (40.7128, -74.0060)


def test_great_circle_known_distances() -> None:
    assert geo.great_circle_km(*LONDON, *PARIS) == pytest.approx(344, abs=3)
    assert geo.great_circle_km(*LONDON, *NEW_YORK) == pytest.approx(5570, abs=15)
    assert geo.great_circle_km(*LONDON, *LONDON) == pytest.approx(0, abs=1e-9)


def test_rtt_is_two_ways_over_inflated_fibre() -> None:
    # 2 x 2.1 x 1020 km / 204 km per ms = 21 ms
    assert geo.rtt_ms_from_km(1020.0) == pytest.approx(21.0)


def test_distance_matrix_matches_haversine() -> None:
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(-80, 80, 50), rng.uniform(-180, 180, 50)
    dlat, dlon = rng.uniform(-80, 80, 4), rng.uniform(-180, 180, 4)
    km = geo.distance_matrix_km(geo.unit_vectors(lat, lon), geo.unit_vectors(dlat, dlon))
    expected = geo.great_circle_km(lat[:, None], lon[:, None], dlat[None, :], dlon[None, :])
    np.testing.assert_allclose(km, expected, atol=1e-6)
    km32 = geo.distance_matrix_km(geo.unit_vectors(lat, lon).astype(np.float32),
                                  geo.unit_vectors(dlat, dlon))
    np.testing.assert_allclose(km32, expected, atol=1.0)


def test_region_centroid_and_demand_resolution() -> None:
    code = np.array([0, 0, 1])
    xyz = geo.unit_vectors(np.array([10.0, 20.0, -30.0]), np.array([179.0, -179.0, 5.0]))
    lat, lon = geo.region_centroids(code, 2, xyz)
    assert lat[0] == pytest.approx(15.0, abs=0.2)
    assert abs(lon[0]) == pytest.approx(180.0, abs=0.2)  # across the antimeridian, not 0
    coords = {"r": (1.0, 2.0)}
    lat, lon, w = geo.resolve_demand([Demand("a", 2.0, region="r"), Demand("b", 1.0, 3, 4)],
                                     coords)
    assert list(lat) == [1.0, 3.0] and list(lon) == [2.0, 4.0] and list(w) == [2.0, 1.0]
    with pytest.raises(geo.UnknownRegionError, match="'nowhere'"):
        geo.resolve_demand([Demand("x", 1.0, region="nowhere")], coords)


def test_expected_rtt_is_weighted_mean_and_zero_without_demand() -> None:
    rtt = np.array([[10.0, 30.0], [20.0, 20.0]])
    np.testing.assert_allclose(geo.expected_rtt_ms(rtt, np.array([3.0, 1.0])), [15.0, 20.0])
    assert not geo.expected_rtt_ms(np.zeros((2, 0)), np.zeros(0)).any()


def test_index_uses_region_centroids_tables_and_measured_rtts() -> None:
    snap = snapshot_of([
        FakeNode("a", region="eu", lat=LONDON[0], lon=LONDON[1]),
        FakeNode("b", region="eu", lat=PARIS[0], lon=PARIS[1]),
    ])
    index = FleetIndex(snap, region_coords={"us": NEW_YORK},
                       measured_rtt_ms={("a", "paris"): 99.0})
    assert index.region_coords["eu"][0] == pytest.approx(50.2, abs=0.2)
    rtt = index.expected_rtt_ms((Demand("paris", 1.0, *PARIS),))
    assert rtt[0] == 99.0  # measured beats estimated
    assert rtt[1] == pytest.approx(0.0, abs=0.1)
    us = index.expected_rtt_ms((Demand("us", 1.0, region="us"),))
    assert us[0] == pytest.approx(geo.rtt_ms_from_km(5570), rel=0.01)
    assert index.expected_rtt_ms((Demand("us", 1.0, region="us"),)) is us  # cached
    assert index.row("b") == 1 and index.row("zzz") is None
    assert index.rows(["b", "zzz", "b"]) == [1, 1]

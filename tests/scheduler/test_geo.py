"""Distances, RTT from distance, demand resolution, measured RTTs and their calibration."""

from __future__ import annotations

import dataclasses

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
    km32 = geo.distance_matrix_km(
        geo.unit_vectors(lat, lon).astype(np.float32), geo.unit_vectors(dlat, dlon)
    )
    np.testing.assert_allclose(km32, expected, atol=1.0)


def test_region_centroid_and_demand_resolution() -> None:
    code = np.array([0, 0, 1])
    xyz = geo.unit_vectors(np.array([10.0, 20.0, -30.0]), np.array([179.0, -179.0, 5.0]))
    lat, lon = geo.region_centroids(code, 2, xyz)
    assert lat[0] == pytest.approx(15.0, abs=0.2)
    assert abs(lon[0]) == pytest.approx(180.0, abs=0.2)  # across the antimeridian, not 0
    coords = {"r": (1.0, 2.0)}
    lat, lon, w = geo.resolve_demand([Demand("a", 2.0, region="r"), Demand("b", 1.0, 3, 4)], coords)
    assert list(lat) == [1.0, 3.0] and list(lon) == [2.0, 4.0] and list(w) == [2.0, 1.0]
    with pytest.raises(geo.UnknownRegionError, match="'nowhere'"):
        geo.resolve_demand([Demand("x", 1.0, region="nowhere")], coords)


def test_index_locates_regions_by_table_landmark_and_centroid_and_caches() -> None:
    snap = dataclasses.replace(
        snapshot_of(
            [
                FakeNode("a", region="eu", lat=LONDON[0], lon=LONDON[1]),
                FakeNode("b", region="eu", lat=PARIS[0], lon=PARIS[1]),
            ]
        ),
        landmarks={"us-east-1": NEW_YORK},
    )
    index = FleetIndex(snap, region_coords={"us": NEW_YORK})
    assert index.region_coords["eu"][0] == pytest.approx(50.2, abs=0.2)
    us = index.rtt((Demand("us", 1.0, region="us"),))
    assert us.rtt_ms[0, 0] == pytest.approx(geo.rtt_ms_from_km(5570), rel=0.01)
    assert not us.measured.any()
    assert index.rtt((Demand("us", 1.0, region="us"),)) is us  # cached
    landmark = index.rtt((Demand("virginia", 1.0, region="us-east-1"),))
    assert landmark.rtt_ms[0, 0] == pytest.approx(us.rtt_ms[0, 0], rel=1e-3)
    assert index.row("b") == 1 and index.row("zzz") is None
    assert index.rows(["b", "zzz", "b"]) == [1, 1]


def test_measured_rtts_win_and_calibrate_the_estimate() -> None:
    nodes = [
        FakeNode("lon", lat=LONDON[0], lon=LONDON[1]),
        FakeNode("par", lat=PARIS[0], lon=PARIS[1]),
    ]
    snap = dataclasses.replace(
        snapshot_of(nodes),
        landmarks={"nyc": NEW_YORK, "paris-ix": PARIS},
        measured_rtt_ms={0: {"nyc": 70.0}, 1: {"paris-ix": 1.5}},
    )
    index = FleetIndex(snap)
    # London-New York is 5,570 km: 70 ms measured means routes 1.28 x the great circle.
    assert index.measured.inflation == pytest.approx(70 * 204 / (2 * 5570), rel=0.01)
    demand = (
        Demand("nyc", 1.0, *NEW_YORK),
        Demand("philadelphia", 1.0, 39.95, -75.17),
        Demand("paris", 1.0, *PARIS),
    )
    m = index.rtt(demand)
    assert m.rtt_ms[0, 0] == pytest.approx(70.0)  # measured, to the landmark of that name
    # Philadelphia is 130 km from that landmark: the measured trip plus an estimated leg.
    assert m.rtt_ms[0, 1] == pytest.approx(70.0 + 2 * 1.28 * 130 / 204, abs=0.2)
    # Paris from Paris: measured via the IXP there; Paris to New York is estimated, calibrated.
    assert m.rtt_ms[1, 2] == pytest.approx(1.5, abs=0.01)
    assert m.rtt_ms[1, 0] == pytest.approx(2 * 1.28 * 5837 / 204, rel=0.02)
    assert m.measured.tolist() == [[True, True, False], [False, False, True]]
    assert index.rtt_rows(demand, np.array([1])).rtt_ms.tolist() == [m.rtt_ms[1].tolist()]

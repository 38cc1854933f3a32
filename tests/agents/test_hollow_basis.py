"""Hollow nodes (`tpctl up`) say what their carbon figure is, as real agents do."""

from __future__ import annotations

from typing import Any

import pytest

from agents.hollow import EnergyModels, HollowTelemetry, parse_hollow_node
from agents.simclock import SimClock

NODE: dict[str, Any] = {
    "apiVersion": "tokenplane.io/v1",
    "kind": "Node",
    "metadata": {"name": "site-1"},
    "spec": {
        "tier": "factory",
        "location": {"lat": 48.14, "lon": 11.58, "country": "DE"},
        "power": {"budgetKw": 100},
    },
}


class Idle:
    def usage(self) -> tuple[dict[str, int], float]:
        return {}, 0.0


@pytest.mark.parametrize(
    ("extra", "label", "zone"),
    [
        ({"agent": {"energy": {"source": "modelled"}}}, "average/lifecycle/modelled", "DE"),
        (
            {
                "agent": {
                    "energy": {"source": "static", "carbonGPerKwh": 400, "carbonSignal": "marginal"}
                }
            },
            "marginal/lifecycle/declared",
            "",
        ),
        (
            {
                "status": {
                    "energy": {
                        "carbonGPerKwh": 30,
                        "carbonBasis": {
                            "signal": "average",
                            "scope": "direct",
                            "provenance": "measured",
                            "zone": "CA-ON",
                        },
                    }
                }
            },
            "average/direct/measured",
            "CA-ON",
        ),
    ],
)
def test_hollow_heartbeat_carries_the_carbon_basis(
    extra: dict[str, Any], label: str, zone: str
) -> None:
    hollow = parse_hollow_node({**NODE, **extra}, "fleet.yaml")
    figures = EnergyModels(SimClock.starting_now()).figures(hollow)
    beat = HollowTelemetry(hollow.node, figures)(Idle())  # type: ignore[arg-type]
    basis = beat.carbon_basis
    assert f"{basis.signal}/{basis.scope}/{basis.provenance}" == label
    assert basis.zone == zone


def test_a_manifest_without_a_basis_says_none() -> None:
    hollow = parse_hollow_node({**NODE, "status": {"energy": {"carbonGPerKwh": 30}}}, "fleet.yaml")
    figures = EnergyModels(SimClock.starting_now()).figures(hollow)
    beat = HollowTelemetry(hollow.node, figures)(Idle())  # type: ignore[arg-type]
    assert not beat.HasField("carbon_basis")  # shown as unknown, not guessed

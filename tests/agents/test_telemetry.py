"""What the agent says about its node: measured capacity and each heartbeat's figures."""

from __future__ import annotations

import types
from dataclasses import dataclass

import psutil

from agents.config import StaticEnergy
from agents.energy import EnergyReading, Figure
from agents.energy.feeds import StaticSource
from agents.gpus import Nvml, model_name
from agents.telemetry import NodeTelemetry, measured_node
from controlplane.resources import Node, load_manifests
from tests.agents.support import StillRuntime

NODE = """
apiVersion: tokenplane.io/v1
kind: Node
metadata: {name: edge-1}
spec:
  tier: edge
  location: {lat: 48.14, lon: 11.58, country: DE}
  capacity:
    gpus: [{model: L4, memoryGb: 24, count: 4}]
  power: {budgetKw: 20}
"""


HELD = StillRuntime({"L4": 3}, 1.2)  # replicas holding 3 L4s, declaring 1.2 kW


def node() -> Node:
    (n,) = load_manifests(NODE)
    assert isinstance(n, Node)
    return n


@dataclass
class Memory:
    total: int
    used: int


def fake_nvml() -> Nvml:
    """NVML's Python API as a module of functions; a stand-in for a driver this machine lacks."""

    class NVMLError(Exception):
        pass

    gpus = [("NVIDIA H100 80GB HBM3", 80e9, 350_000), ("NVIDIA H100 80GB HBM3", 80e9, 410_000)]
    module = types.SimpleNamespace(
        NVMLError=NVMLError,
        nvmlDeviceGetName=lambda h: gpus[h][0],
        nvmlDeviceGetMemoryInfo=lambda h: Memory(int(gpus[h][1]), int(gpus[h][1] / 4)),
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=87),
        nvmlDeviceGetPowerUsage=lambda h: gpus[h][2],
    )
    return Nvml(module, [0, 1])  # type: ignore[arg-type]


def test_there_is_no_nvml_here_so_gpus_are_as_declared() -> None:
    assert Nvml.probe() is None
    measured = measured_node(node(), None)
    assert [(g.model, g.count) for g in measured.spec.capacity.gpus] == [("L4", 4)]
    assert measured.spec.capacity.cpu_cores == psutil.cpu_count()
    assert measured.spec.capacity.memory_gb == round(psutil.virtual_memory().total / 1e9, 1)


def test_declared_cpu_and_memory_are_what_the_node_offers() -> None:
    n = node()
    n.spec.capacity.cpu_cores, n.spec.capacity.memory_gb = 2, 8
    measured = measured_node(n, None)
    assert (measured.spec.capacity.cpu_cores, measured.spec.capacity.memory_gb) == (2, 8)


def test_nvml_replaces_the_declared_gpus_and_meters_their_power() -> None:
    nvml = fake_nvml()
    samples = nvml.sample()
    assert samples[0].model == "H100 80GB HBM3" and samples[0].utilization_percent == 87
    measured = measured_node(node(), nvml)
    assert [(g.model, g.memory_gb, g.count) for g in measured.spec.capacity.gpus] == [
        ("H100 80GB HBM3", 80, 2)
    ]
    source = StaticSource(StaticEnergy(source="static", carbon_g_per_kwh=300))
    beat = NodeTelemetry(measured, source, nvml)(HELD)
    assert beat.it_draw_kw == 0.76 and "itDraw=nvml:gpu-power" in beat.energy_source


def test_heartbeat_figures_and_their_origins() -> None:
    source = StaticSource(
        StaticEnergy(source="static", renewable_kw=4, carbon_g_per_kwh=210, price_per_kwh=0.2)
    )
    beat = NodeTelemetry(node(), source, None)(HELD)
    assert (beat.renewable_kw, beat.carbon_g_per_kwh, beat.price_per_kwh) == (4, 210, 0.2)
    assert beat.it_draw_kw == 1.2 and beat.budget_kw == 20
    assert [(g.model, g.total, g.free) for g in beat.gpus] == [("L4", 4, 1)]
    assert beat.energy_source == (
        "renewable=declared carbon=declared price=declared "
        "itDraw=declared:replicas budget=declared:spec"
    )


def test_a_site_meter_wins_over_estimates() -> None:
    class Metered:
        def read(self) -> EnergyReading:
            return EnergyReading(
                carbon_g_per_kwh=Figure(99, "http:ems"),
                it_draw_kw=Figure(7.5, "http:ems"),
                budget_kw=Figure(12, "http:ems"),
            )

        async def run(self) -> None:
            return

    beat = NodeTelemetry(node(), Metered(), fake_nvml())(HELD)
    assert (beat.it_draw_kw, beat.budget_kw, beat.carbon_g_per_kwh) == (7.5, 12, 99)
    assert "renewable=unknown" in beat.energy_source and "itDraw=http:ems" in beat.energy_source


def test_model_names_drop_the_vendor() -> None:
    assert model_name(b"NVIDIA L4") == "L4"
    assert model_name("Tesla T4") == "T4"


def test_heartbeat_says_what_the_carbon_figure_is_and_what_nvml_measured() -> None:
    source = StaticSource(
        StaticEnergy(source="static", carbon_g_per_kwh=420, carbon_signal="marginal")
    )
    beat = NodeTelemetry(node(), source, fake_nvml())(HELD)
    basis = beat.carbon_basis
    assert (basis.signal, basis.scope, basis.provenance) == ("marginal", "lifecycle", "declared")
    assert beat.HasField("gpu_power_kw") and beat.gpu_power_kw == 0.76
    beat = NodeTelemetry(node(), source, None)(HELD)
    assert not beat.HasField("gpu_power_kw")  # no meter: the replicas' declared power stands

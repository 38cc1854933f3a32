"""What the agent says about its node: the capacity it joins with, and each heartbeat.

Capacity: GPUs from NVML where there are any (else as declared), CPU cores and
memory from the host (psutil) unless the config declares less to offer.
Heartbeat: the energy source's latest figures, the GPUs the replicas hold, and
the IT draw from the best meter there is: the site's own (a feed's `itDrawKw`),
else NVML's GPU power, else the replicas' declared power. `energy_source` names
the origin of every figure, e.g. `renewable=modelled:pvlib-clearsky
carbon=modelled:codecarbon-energy-mix(DE,2023,annual) price=declared
itDraw=declared:replicas budget=declared:spec`; `carbon_basis` says what the
carbon figure is (average or marginal, direct or lifecycle, measured, forecast
or modelled), and `gpu_power_kw` what NVML measured, where it did.
"""

from __future__ import annotations

from collections import Counter

import psutil

from agents.energy import EnergySource, Figure
from agents.gpus import Nvml
from agents.runtime import Runtime
from controlplane.resources import GpuCapacity, Node
from tokenplane.v1 import agent_pb2, resources_pb2


def measured_node(node: Node, nvml: Nvml | None) -> Node:
    """The node as it joins: declared where the host cannot tell, measured where it can."""
    node = node.model_copy(deep=True)
    capacity = node.spec.capacity
    if nvml is not None:
        counts = Counter((g.model, round(g.memory_gb)) for g in nvml.sample())
        capacity.gpus = [
            GpuCapacity(model=model, memory_gb=memory, count=n)
            for (model, memory), n in sorted(counts.items())
        ]
    if not capacity.cpu_cores:
        capacity.cpu_cores = float(psutil.cpu_count() or 1)
    if not capacity.memory_gb:
        capacity.memory_gb = round(psutil.virtual_memory().total / 1e9, 1)
    return node


class NodeTelemetry:
    """The heartbeat builder handed to NodeLink: cheap, synchronous, called every interval."""

    def __init__(self, node: Node, energy: EnergySource, nvml: Nvml | None) -> None:
        self._node = node
        self._energy = energy
        self._nvml = nvml

    def __call__(self, runtime: Runtime) -> agent_pb2.Heartbeat:
        reading = self._energy.read()
        held, replica_kw = runtime.usage()
        nvml_kw = sum(s.power_w for s in self._nvml.sample()) / 1000 if self._nvml else None
        it_draw = reading.it_draw_kw or (
            Figure(nvml_kw, "nvml:gpu-power")
            if nvml_kw is not None
            else Figure(replica_kw, "declared:replicas")
        )
        budget = reading.budget_kw or Figure(self._node.spec.power.budget_kw, "declared:spec")
        figures = {
            "renewable": reading.renewable_kw,
            "carbon": reading.carbon_g_per_kwh,
            "price": reading.price_per_kwh,
            "itDraw": it_draw,
            "budget": budget,
        }
        if reading.curtail_to_kw:
            figures["curtailTo"] = reading.curtail_to_kw
        basis = reading.carbon_basis
        return agent_pb2.Heartbeat(
            carbon_basis=resources_pb2.CarbonBasis(**basis.model_dump()) if basis else None,
            gpu_power_kw=nvml_kw,
            it_draw_kw=it_draw.value,
            budget_kw=budget.value,
            curtail_to_kw=reading.curtail_to_kw.value if reading.curtail_to_kw else None,
            renewable_kw=reading.renewable_kw.value if reading.renewable_kw else 0.0,
            carbon_g_per_kwh=reading.carbon_g_per_kwh.value if reading.carbon_g_per_kwh else 0.0,
            price_per_kwh=reading.price_per_kwh.value if reading.price_per_kwh else 0.0,
            forecast=[
                resources_pb2.ForecastPoint(
                    hour_offset=f.hour_offset,
                    carbon_g_per_kwh=f.carbon_g_per_kwh,
                    price_per_kwh=f.price_per_kwh,
                )
                for f in reading.forecast
            ],
            gpus=[
                agent_pb2.GpuUsage(
                    model=g.model,
                    memory_gb=g.memory_gb,
                    total=g.count,
                    free=max(0, g.count - held.get(g.model, 0)),
                )
                for g in self._node.spec.capacity.gpus
            ],
            energy_source=" ".join(
                f"{name}={figure.origin if figure else 'unknown'}"
                for name, figure in figures.items()
            ),
        )

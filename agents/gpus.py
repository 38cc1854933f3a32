"""The node's GPUs, as NVML sees them; on a machine without NVIDIA's driver, none.

Where NVML answers, its inventory replaces whatever the config declares (the
agent tells the truth about the node) and its power readings become the IT
draw. Where it does not (no driver, no GPU: as on CI), the config's declared
capacity stands, and the heartbeat says its figures are declared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

log = logging.getLogger(__name__)

_VENDOR_PREFIXES = ("NVIDIA ", "Tesla ")


@dataclass(frozen=True, slots=True)
class GpuSample:
    model: str
    memory_gb: float
    memory_used_gb: float
    utilization_percent: float
    power_w: float


def model_name(raw: str | bytes) -> str:
    """NVML's "NVIDIA L4" as the fleet names it: "L4"."""
    name = raw.decode() if isinstance(raw, bytes) else raw
    for prefix in _VENDOR_PREFIXES:
        name = name.removeprefix(prefix)
    return name.strip()


class Nvml:
    """An initialised NVML with at least one GPU. Build it with `probe()`."""

    def __init__(self, nvml: ModuleType, handles: list[object]) -> None:
        self._nvml = nvml
        self._handles = handles

    @classmethod
    def probe(cls) -> Nvml | None:
        try:
            import pynvml
        except ImportError:
            log.info("nvidia-ml-py is not installed: GPUs are as the config declares")
            return None
        try:
            pynvml.nvmlInit()
            handles = [
                pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
            ]
        except pynvml.NVMLError as e:
            log.info("no NVML (%s): GPUs are as the config declares", e)
            return None
        if not handles:
            pynvml.nvmlShutdown()
            return None
        return cls(pynvml, handles)

    def sample(self) -> list[GpuSample]:
        """One sample per GPU; a GPU that fails to answer (e.g. fallen off the bus) is left out."""
        nvml, samples = self._nvml, []
        for handle in self._handles:
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                samples.append(
                    GpuSample(
                        model=model_name(nvml.nvmlDeviceGetName(handle)),
                        memory_gb=memory.total / 1e9,
                        memory_used_gb=memory.used / 1e9,
                        utilization_percent=float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                        power_w=nvml.nvmlDeviceGetPowerUsage(handle) / 1000,
                    )
                )
            except nvml.NVMLError as e:
                log.warning("a GPU did not answer NVML: %s", e)
        return samples

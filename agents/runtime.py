"""What runs replicas on a node: one small interface, several drivers.

The agent's connection talks only to this interface; the hollow driver
simulates replicas for demos and scale tests, real drivers start processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from tokenplane.v1 import agent_pb2, resources_pb2

StateListener = Callable[[agent_pb2.ReplicaState], None]


def requested_usage(replicas: Iterable[resources_pb2.Replica]) -> tuple[dict[str, int], float]:
    """GPUs by model and kW the replicas asked for: the usage of a runtime that cannot measure."""
    gpus: dict[str, int] = {}
    power_kw = 0.0
    for replica in replicas:
        res = replica.spec.resources
        if res.gpus:
            gpus[res.gpu_model] = gpus.get(res.gpu_model, 0) + res.gpus
        power_kw += res.power_kw
    return gpus, power_kw


class Runtime(Protocol):
    def deploy(self, replica: resources_pb2.Replica, generation: int) -> None:
        """Starts the replica unless it already runs. Idempotent."""

    def undeploy(self, name: str, generation: int) -> None:
        """Stops the replica if it runs. Idempotent."""

    def states(self) -> list[agent_pb2.ReplicaState]:
        """What actually runs here now, for the Hello after a (re)connect."""
        ...

    def usage(self) -> tuple[dict[str, int], float]:
        """GPUs in use by model, and the IT power the replicas draw (kW)."""
        ...

    async def logs(self, name: str, lines: int) -> str:
        """The last `lines` lines of the replica's output; LookupError if it was never here."""
        ...

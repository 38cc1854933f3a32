"""A simulated runtime for hollow nodes (in the manner of kubemark's hollow kubelet).

This is a fake at the edge of the world, named as such: nothing is started.
A replica is Starting at once and Running after `startup_s`, holding its GPUs
and power; that is enough for the control plane to schedule, reconcile and
drain against thousands of nodes on one machine.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agents.runtime import StateListener, requested_usage
from tokenplane.v1 import agent_pb2, resources_pb2


@dataclass
class _Simulated:
    replica: resources_pb2.Replica
    phase: str
    generation: int


class HollowRuntime:
    def __init__(self, node_name: str, on_state: StateListener, *, startup_s: float = 0.5) -> None:
        self._node = node_name
        self._on_state = on_state
        self._startup_s = startup_s
        self._replicas: dict[str, _Simulated] = {}

    def _state(self, sim: _Simulated) -> agent_pb2.ReplicaState:
        name = sim.replica.metadata.name
        return agent_pb2.ReplicaState(
            name=name,
            deployment=sim.replica.spec.deployment,
            phase=sim.phase,
            endpoint=f"hollow://{self._node}/{name}" if sim.phase == "Running" else "",
            generation=sim.generation,
        )

    def deploy(self, replica: resources_pb2.Replica, generation: int) -> None:
        name = replica.metadata.name
        if name in self._replicas:
            self._on_state(self._state(self._replicas[name]))
            return
        sim = _Simulated(replica, "Starting", generation)
        self._replicas[name] = sim
        self._on_state(self._state(sim))
        asyncio.get_running_loop().call_later(self._startup_s, self._started, name)

    def _started(self, name: str) -> None:
        sim = self._replicas.get(name)
        if sim is not None and sim.phase == "Starting":
            sim.phase = "Running"
            self._on_state(self._state(sim))

    def undeploy(self, name: str, generation: int) -> None:
        sim = self._replicas.pop(name, None)
        if sim is not None:
            sim.phase, sim.generation = "Stopped", generation
            self._on_state(self._state(sim))

    def states(self) -> list[agent_pb2.ReplicaState]:
        return [self._state(sim) for sim in self._replicas.values()]

    async def logs(self, name: str, lines: int) -> str:
        if name not in self._replicas:
            raise LookupError(f"no replica {name} on node {self._node}")
        return f"hollow replica {name}: simulated, it writes no output\n"

    def usage(self) -> tuple[dict[str, int], float]:
        return requested_usage(sim.replica for sim in self._replicas.values())

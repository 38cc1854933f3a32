"""Hollow mode: many simulated nodes in one process, each with its own gRPC stream.

In the manner of Kubernetes' kubemark and KWOK: the control plane sees real
agents (real joins, real streams, real heartbeats, real keepalive pings on a
connection per node); only the machines behind them are simulated. Each node's
energy figures come from its manifest's `status.energy`, a fake power meter
named as such.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import resource

from agents.connection import NodeLink
from agents.hollow_runtime import HollowRuntime
from agents.runtime import Runtime
from controlplane.resources import Node
from controlplane.resources.codec import to_message
from tokenplane.v1 import agent_pb2

log = logging.getLogger(__name__)

IDLE_DRAW_SHARE = 0.1  # a site's IT draw with no replicas, as a share of its budget


class HollowTelemetry:
    """The simulated node's heartbeat: capacity from its spec, use from its replicas."""

    def __init__(self, node: Node) -> None:
        self._node = node
        energy = node.status.energy if node.status and node.status.energy else None
        self.budget_kw = (
            energy.budget_kw if energy and energy.budget_kw else node.spec.power.budget_kw
        )
        self.renewable_kw = energy.renewable_kw if energy else 0.0
        self.carbon_g_per_kwh = energy.carbon_g_per_kwh if energy else 0.0
        self.price_per_kwh = energy.price_per_kwh if energy else 0.0

    def __call__(self, runtime: Runtime) -> agent_pb2.Heartbeat:
        used, replica_kw = runtime.usage()
        gpus = [
            agent_pb2.GpuUsage(
                model=g.model,
                memory_gb=g.memory_gb,
                total=g.count,
                free=max(0, g.count - used.get(g.model, 0)),
            )
            for g in self._node.spec.capacity.gpus
        ]
        return agent_pb2.Heartbeat(
            it_draw_kw=IDLE_DRAW_SHARE * self._node.spec.power.budget_kw + replica_kw,
            budget_kw=self.budget_kw,
            renewable_kw=self.renewable_kw,
            carbon_g_per_kwh=self.carbon_g_per_kwh,
            price_per_kwh=self.price_per_kwh,
            gpus=gpus,
            energy_source="hollow:manifest",
        )


def raise_fd_limit() -> None:
    """A connection per node needs a file descriptor per node."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def build_links(
    nodes: list[Node], server: str, token: str, *, startup_s: float = 0.5, seed: int = 0
) -> list[NodeLink]:
    return [
        NodeLink(
            node=to_message(node),  # type: ignore[arg-type]
            server=server,
            bootstrap_token=token,
            runtime_factory=functools.partial(HollowRuntime, node.name, startup_s=startup_s),
            telemetry=HollowTelemetry(node),
            rng=random.Random(seed + i),
        )
        for i, node in enumerate(nodes)
    ]


async def run_fleet(links: list[NodeLink], *, ramp_per_s: float = 2000.0) -> None:
    """Starts `ramp_per_s` links a second: a join storm the server can take."""
    raise_fd_limit()
    tasks = []
    for i, link in enumerate(links):
        tasks.append(asyncio.create_task(link.run(), name=f"hollow-{link.name}"))
        if (i + 1) % 100 == 0:
            await asyncio.sleep(100 / ramp_per_s)
    log.info("%d hollow nodes started", len(links))
    await asyncio.gather(*tasks)

"""One real node's agent, assembled from its config: telemetry, energy, runtime, link.

This is where the side effects are created (NVML, the state file, the
Kubernetes clients) and handed to the parts, so that tests can build the same
parts around real processes. Stopping the agent never stops its replicas: they
keep serving, and the next agent adopts them from the local state.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from pathlib import Path

import grpc

from agents.config import KubernetesRuntimeConfig, NodeConfig, ProcessRuntimeConfig
from agents.connection import NodeLink, Telemetry
from agents.credentials import NodeTokens
from agents.energy import build_source
from agents.gpus import Nvml
from agents.probes import Prober, with_rtt_samples
from agents.runtime import Runtime, StateListener
from agents.state import LocalState
from agents.telemetry import NodeTelemetry, measured_node
from controlplane.extras import require
from controlplane.resources.codec import to_message

log = logging.getLogger(__name__)

STATE_FILE = "agent-state.json"
NODE_TOKENS_FILE = "node-tokens.json"  # the node's own token (agents/credentials.py)
KUBERNETES_RETRY_S = 5.0


RuntimeFactory = Callable[[StateListener], Runtime]


async def _kubernetes_runtime(config: KubernetesRuntimeConfig, node: str) -> RuntimeFactory:
    """Connects, and lists the replicas already in the cluster once the API server answers."""
    require("agent-k8s", "the kubernetes runtime")
    from kubernetes.client.exceptions import ApiException

    from agents.runtimes.kubernetes import KubernetesRuntime, adopted, connect, discover

    apps, core = connect(config)
    while True:
        try:
            existing = adopted(await discover(apps, config.namespace, node))
            break
        except (ApiException, OSError) as e:
            log.warning("Kubernetes API not answering (%s); retrying", e)
            await asyncio.sleep(KUBERNETES_RETRY_S)
    return functools.partial(
        KubernetesRuntime, config, node, apps=apps, core=core, existing=existing
    )


def _process_runtime(
    config: ProcessRuntimeConfig, state: LocalState, state_dir: Path, gpu_models: list[str]
) -> RuntimeFactory:
    from agents.runtimes.process import ProcessRuntime

    return functools.partial(
        ProcessRuntime, config, state, state_dir / "logs", gpu_models=gpu_models
    )


async def run_agent(
    config: NodeConfig,
    *,
    server: str,
    bootstrap_token: str,
    state_dir: Path,
    credentials: grpc.ChannelCredentials | None,
) -> None:
    """Runs until cancelled."""
    state = LocalState.load(state_dir / STATE_FILE)
    nvml = Nvml.probe()
    node = measured_node(config.node(), nvml)
    energy = build_source(config.agent.energy, node.spec.location)
    runtime = config.agent.runtime
    if isinstance(runtime, KubernetesRuntimeConfig):
        runtime_factory = await _kubernetes_runtime(runtime, node.name)
    else:
        gpu_models = (
            [g.model for g in nvml.sample()]
            if nvml
            else [g.model for g in node.spec.capacity.gpus for _ in range(g.count)]
        )
        runtime_factory = _process_runtime(runtime, state, state_dir, gpu_models)

    telemetry: Telemetry = NodeTelemetry(node, energy, nvml)
    prober = Prober.from_config(config.agent.probes) if config.agent.probes.enabled else None
    if prober is not None:
        telemetry = with_rtt_samples(telemetry, prober)
    link = NodeLink(
        node=to_message(node),
        server=server,
        bootstrap_token=bootstrap_token,
        runtime_factory=runtime_factory,
        telemetry=telemetry,
        credentials=credentials,
        applied_generation=state.applied_generation,
        on_applied=state.set_applied_generation,
        on_settings=prober.on_settings if prober is not None else None,
        tokens=NodeTokens(state_dir / NODE_TOKENS_FILE),
    )
    log.info(
        "node %s: %d replicas adopted, generation %d; joining %s",
        node.name,
        len(link.runtime.states()),
        state.applied_generation,
        server,
    )
    await asyncio.gather(link.run(), energy.run(), *([prober.run()] if prober else []))

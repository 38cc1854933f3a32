"""The chart's containers as the kubelet would run them: our commands and their expanded args.

Shared by the tests that feed rendered args to the real commands' parsers and start them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from agents.main import main as agent_main
from controlplane.cli.main import cli as tpctl_main
from controlplane.server.main import main as server_main
from tests.helm.conftest import NAMESPACE, Manifests

COMMANDS: dict[str, click.Command] = {
    "tokenplane-server": server_main,
    "tokenplane-agent": agent_main,
    "tpctl": tpctl_main,
}
# What the kubelet would put in the env vars the chart takes from the downward API.
FIELD_REFS = {
    "metadata.name": "tp-tokenplane-server-5d8f7c9b6-x2x7q",
    "metadata.namespace": NAMESPACE,
    "spec.nodeName": "gpu-node-1",
}


@dataclass(frozen=True)
class Container:
    workload: str
    name: str
    command: str
    args: list[str]


def expand(arg: str, env: dict[str, str]) -> str:
    """`$(VAR)` replaced by the container's env var, left as is when unset (the kubelet's rule)."""
    return re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), arg)


def containers(manifests: Manifests) -> Iterator[Container]:
    """Containers running one of our commands, args expanded as the kubelet does."""
    for workload, spec in manifests.pod_specs():
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            command = Path((c.get("command") or [""])[0]).name
            if command not in COMMANDS:
                continue
            env = {
                e["name"]: e.get("value") or FIELD_REFS[e["valueFrom"]["fieldRef"]["fieldPath"]]
                for e in c.get("env", [])
                if "value" in e or "fieldRef" in e.get("valueFrom", {})
            }
            args = [expand(a, env) for a in [*c["command"][1:], *c.get("args", [])]]
            yield Container(workload, c["name"], command, args)

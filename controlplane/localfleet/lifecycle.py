"""Bringing a whole tokenplane up on this machine, and down again: the steps `tpctl up` shows.

Up: write the fleet and deployment files into the state dir, and the
simulated clock, stopped at its start; start the server (embedded store,
local Ray), the hollow agents (one process) and the recorder; point tpctl's `local` context at the
server, as kind does for kubectl; apply the deployments; then the caller polls
until every deployment is Running, and sets the clock going. Down: stop the three sessions (Ray's
processes included), remove the `local` context and restore the context that
was current before. Each step is a function of its own, so that `tpctl up` can
show progress between them and a failure can bring down what had started.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from controlplane.cli import config as tpctl_config
from controlplane.cli.client import FleetClient
from controlplane.localfleet import launcher, run
from controlplane.localfleet.clock import ClockSetting
from controlplane.localfleet.places import grid_extract
from controlplane.localfleet.run import (
    CLOCK_FILE,
    DEPLOYMENTS_FILE,
    FLEET_FILE,
    RunRecord,
    clear_run_files,
    load_record,
)
from controlplane.resources import ManifestError, ModelDeployment, Node, dump_yaml

CONTEXT = "local"
SERVER_START_TIMEOUT_S = 90.0
NODE_GRACE_S = 2.0  # a fresh store: no agents to wait for after a restart
HOLLOW_STARTUP_S = 1.0  # how long a simulated replica takes to start, real seconds
PROCESS_ORDER = ("recorder", "agents", "server")  # stopped in this order


class AlreadyUp(RuntimeError):
    pass


@dataclass(frozen=True)
class FleetFiles:
    nodes: list[dict[str, Any]]
    deployments: list[ModelDeployment]

    def tiers(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for doc in self.nodes:
            tier = doc["spec"]["tier"]
            counts[tier] = counts.get(tier, 0) + 1
        return counts


def _with_grid_extract(doc: Any) -> Any:
    """A `replay` energy section without a `path` reads the extract shipped with tokenplane."""
    agent = doc.get("agent") if isinstance(doc, dict) else None
    energy = agent.get("energy") if isinstance(agent, dict) else None
    if isinstance(energy, dict) and energy.get("source") == "replay" and "path" not in energy:
        energy["path"] = str(grid_extract())
    return doc


def read_fleet_file(path: Path) -> FleetFiles:
    """A user's fleet file (docs/fleet-file.md): Node documents, and optionally deployments.

    Raises ManifestError naming each bad document and field.
    """
    from agents.hollow import parse_hollow_node
    from controlplane.resources import parse_manifest

    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as e:
        raise ManifestError([(str(path), f"invalid YAML: {e}")]) from None
    nodes, deployments, problems = [], [], []
    for index, doc in enumerate(docs):
        where = f"{path} (document {index + 1})"
        try:
            if isinstance(doc, dict) and doc.get("kind") == "ModelDeployment":
                deployment = parse_manifest(doc, where)
                assert isinstance(deployment, ModelDeployment)
                deployments.append(deployment)
            else:
                parse_hollow_node(_with_grid_extract(doc), where)
                nodes.append(doc)
        except ManifestError as e:
            problems.extend(e.problems)
    if problems:
        raise ManifestError(problems)
    if not nodes:
        raise ManifestError([(str(path), "no Node documents: a fleet needs nodes")])
    return FleetFiles(nodes, deployments)


def default_files(n_nodes: int) -> FleetFiles:
    from controlplane.localfleet.deployments import sample_deployments
    from controlplane.localfleet.fleet import default_fleet

    return FleetFiles(default_fleet(n_nodes), sample_deployments())


def running_fleet(state_dir: Path) -> RunRecord | None:
    """The record of a fleet in `state_dir` with any of its processes still alive."""
    record = load_record(state_dir)
    if record is None or not any(launcher.alive(pid) for pid in record.pids.values()):
        return None
    return record


def prepare(state_dir: Path, files: FleetFiles) -> None:
    """A fresh start: the previous run's store and files go, the new fleet's files are written."""
    existing = running_fleet(state_dir)
    if existing is not None:
        raise AlreadyUp(
            f"a local fleet is already up in {state_dir} (server {existing.server}); "
            "stop it with: tpctl down"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    clear_run_files(state_dir)
    (state_dir / FLEET_FILE).write_text(yaml.safe_dump_all(files.nodes, sort_keys=False))
    (state_dir / DEPLOYMENTS_FILE).write_text("---\n".join(dump_yaml(d) for d in files.deployments))


def replan_interval_s(clock_speed: float) -> float:
    """Re-plan every 15 simulated minutes, but every 1-10 real seconds."""
    return min(10.0, max(1.0, 900.0 / clock_speed))


def start_server(
    state_dir: Path, listen: str, scheduler: str, clock_speed: float
) -> tuple[launcher.Launched, str]:
    server = launcher.spawn(
        "server",
        [
            str(launcher.BIN / "tokenplane-server"),
            "--listen",
            listen,
            "--state-dir",
            str(state_dir),
            "--scheduler",
            scheduler,
            "--replan-interval",
            f"{replan_interval_s(clock_speed):g}",
            "--node-grace-period",
            f"{NODE_GRACE_S:g}",
            "--clock-file",  # curtailment events last simulated hours
            str(state_dir / CLOCK_FILE),
        ],
        state_dir,
    )
    try:
        match = launcher.wait_for_line(server, r"listening on (\S+)", SERVER_START_TIMEOUT_S)
    except BaseException:
        launcher.stop([server.pid])  # it may have started Ray before it failed
        raise
    return server, match[1]


def stop_clock(state_dir: Path, start: datetime, speed: float) -> None:
    """The shared clock, standing at `start` until `start_clock`: the sun waits for the fleet."""
    ClockSetting(start, speed).save(state_dir / CLOCK_FILE)


def start_clock(state_dir: Path) -> None:
    """Sets the shared clock going from its start, now."""
    clock = run.clock(state_dir).clock
    ClockSetting(clock.start, clock.speed, time.time()).save(state_dir / CLOCK_FILE)


def start_agents(state_dir: Path, server: str) -> launcher.Launched:
    return launcher.spawn(
        "agents",
        [
            str(launcher.BIN / "tokenplane-agent"),
            "--hollow",
            "--fleet",
            str(state_dir / FLEET_FILE),
            "--server",
            server,
            "--token-file",
            str(state_dir / "bootstrap-token"),
            # The nodes' own tokens: restarted, the agents re-join their registered names.
            "--node-tokens-file",
            str(state_dir / "node-tokens.json"),
            "--startup-seconds",
            f"{HOLLOW_STARTUP_S:g}",
            "--clock-file",
            str(state_dir / CLOCK_FILE),
        ],
        state_dir,
    )


def start_recorder(state_dir: Path) -> launcher.Launched:
    return launcher.spawn(
        "recorder",
        [sys.executable, "-m", "controlplane.localfleet.recorder", str(state_dir)],
        state_dir,
    )


def use_context(config_file: Path, server: str, state_dir: Path) -> str:
    """Points the `local` context at `server` and makes it current; returns the previous one.

    The context also names the state dir, so that `tpctl down` and `tpctl report` find a
    fleet started with `--state-dir` without being told again."""
    config = tpctl_config.load(config_file)
    previous = config.current_context
    config.contexts = [c for c in config.contexts if c.name != CONTEXT]
    config.contexts.append(tpctl_config.Context(name=CONTEXT, server=server, state_dir=state_dir))
    config.current_context = CONTEXT
    tpctl_config.save(config, config_file)
    return previous if previous != CONTEXT else ""


def forget_context(record: RunRecord) -> None:
    """Removes the `local` context if it still points at this fleet; restores the previous."""
    if not record.config_file:
        return
    path = Path(record.config_file)
    config = tpctl_config.load(path)
    ours = config.find(CONTEXT)
    if ours is None or ours.server != record.server:
        return
    config.contexts = [c for c in config.contexts if c.name != CONTEXT]
    if config.current_context == CONTEXT:
        config.current_context = (
            record.previous_context if config.find(record.previous_context) else ""
        )
    tpctl_config.save(config, path)


def apply(client: FleetClient, deployments: Sequence[ModelDeployment]) -> None:
    for deployment in deployments:
        client.apply(deployment)


@dataclass(frozen=True)
class Startup:
    nodes_ready: int
    nodes: int
    replicas_running: int
    replicas_desired: int
    deployments_running: int
    deployments: int

    @property
    def done(self) -> bool:
        return self.deployments_running == self.deployments


def poll(client: FleetClient) -> Startup:
    nodes = [n for n in client.list("Node")[0] if isinstance(n, Node)]
    deployments = [d for d in client.list("ModelDeployment")[0] if isinstance(d, ModelDeployment)]
    ready = sum(
        1
        for n in nodes
        if n.status and any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)
    )
    running = [
        min(d.status.ready_replicas if d.status else 0, d.spec.replicas) for d in deployments
    ]
    return Startup(
        nodes_ready=ready,
        nodes=len(nodes),
        replicas_running=sum(running),
        replicas_desired=sum(d.spec.replicas for d in deployments),
        deployments_running=sum(
            1 for d, n in zip(deployments, running, strict=True) if n >= d.spec.replicas
        ),
        deployments=len(deployments),
    )


def check_alive(record: RunRecord, state_dir: Path) -> None:
    """Raises LaunchError, with the end of its log, if a process of the fleet has exited."""
    for name, pid in record.pids.items():
        if not launcher.alive(pid):
            log = launcher.logs_dir(state_dir) / f"{name}.log"
            raise launcher.LaunchError(f"{name} exited; the end of {log}:\n{launcher.tail(log)}")


def stop_processes(record: RunRecord) -> list[int]:
    """Stops every process of the fleet; returns the pids that had to be killed."""
    pids = [record.pids[name] for name in PROCESS_ORDER if name in record.pids]
    return launcher.stop(pids)


def leftovers(record: RunRecord) -> list[int]:
    """Processes of the fleet still alive (there should be none after `stop_processes`)."""
    return [p.pid for p in launcher.session_members(set(record.pids.values()))]

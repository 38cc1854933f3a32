"""`tokenplane-agent`: the node agent's command line (a real node, or a hollow fleet)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agents import __version__
from controlplane.address import is_loopback

if TYPE_CHECKING:
    import grpc

    from agents.config import NodeConfig
    from agents.observability import LoopWatch

DEFAULT_TOKEN_FILE = Path.home() / ".local" / "state" / "tokenplane" / "bootstrap-token"
DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "tokenplane" / "agent"


def _token(token: str | None, token_file: Path | None) -> str:
    if token:
        return token
    path = token_file or DEFAULT_TOKEN_FILE
    try:
        return path.read_text().strip()
    except OSError as e:
        raise click.UsageError(
            f"no bootstrap token: give --token or --token-file ({path}: {e.strerror})"
        ) from None


def _credentials(
    server: str,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
    insecure: bool,
) -> grpc.ChannelCredentials | None:
    """TLS (mutual, with --cert-file/--key-file) unless plaintext is safe or explicitly allowed."""
    import grpc

    if (cert_file is None) != (key_file is None):
        raise click.UsageError("--cert-file and --key-file go together")
    if ca_file is None and cert_file is None:
        if not is_loopback(server) and not insecure:
            raise click.UsageError(
                f"--server {server}: plaintext only to a loopback server; "
                "give --ca-file (and --cert-file/--key-file for mTLS), or --insecure"
            )
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes() if ca_file else None,
        private_key=key_file.read_bytes() if key_file else None,
        certificate_chain=cert_file.read_bytes() if cert_file else None,
    )


async def _run_until_signalled(main: Coroutine[Any, Any, None]) -> None:
    """Runs the agent until SIGTERM or SIGINT; the replicas are left running for the next agent."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    logging.getLogger("agents").info("agent stopped; its replicas keep running")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option(
    "--server",
    default="127.0.0.1:7070",
    envvar="TOKENPLANE_SERVER",
    help="Address of the control plane's Agent API.",
)
@click.option("--token", envvar="TOKENPLANE_BOOTSTRAP_TOKEN", help="Bootstrap token.")
@click.option(
    "--token-file",
    type=click.Path(path_type=Path),
    envvar="TOKENPLANE_TOKEN_FILE",
    help=f"File holding the bootstrap token [default: {DEFAULT_TOKEN_FILE}].",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TOKENPLANE_NODE_CONFIG",
    help="The node config file: a Node manifest plus the agent's section (docs/agent.md).",
)
@click.option(
    "--node-name",
    envvar="TOKENPLANE_NODE_NAME",
    help="The node's name when --config leaves metadata.name out (a DaemonSet passes its "
    "Kubernetes node's name).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    envvar="TOKENPLANE_AGENT_STATE_DIR",
    help="Where the agent keeps what it runs (agent-state.json) and the replicas' logs.",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA that signed the control plane's certificate (TLS).",
)
@click.option(
    "--cert-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="This node's client certificate (mTLS).",
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="This node's client key (mTLS).",
)
@click.option("--insecure", is_flag=True, help="Allow plaintext to a server beyond loopback.")
@click.option("--hollow", is_flag=True, help="Simulate the nodes of --fleet in this process.")
@click.option(
    "--fleet",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Multi-document YAML of Node manifests (with --hollow).",
)
@click.option(
    "--startup-seconds",
    type=float,
    default=0.5,
    help="How long a simulated replica takes to start (with --hollow).",
)
@click.option(
    "--clock-speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    help="Simulated seconds per real second for modelled energy (with --hollow).",
)
@click.option(
    "--clock-start",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Simulated time at --clock-epoch, ISO 8601, UTC unless an offset is given "
    "[default: now] (with --hollow).",
)
@click.option(
    "--clock-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A clock shared with other processes, re-read when it changes: JSON "
    '{"start": ISO8601, "speed": N, "epochS": UNIX_SECONDS or null (stopped)}; '
    "instead of --clock-speed/--clock-start (with --hollow).",
)
@click.option(
    "--node-tokens-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the nodes' tokens in this file (0600), so that a restarted fleet re-joins "
    "its registered names (with --hollow; a real agent keeps its own in --state-dir).",
)
@click.option(
    "--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"])
)
@click.option(
    "--log-format",
    default="text",
    type=click.Choice(["text", "json"]),
    help="json: one object a line, RFC 3339 UTC times, trace ids.",
)
@click.option(
    "--metrics-listen",
    default=None,
    metavar="HOST:PORT",
    help="Serve /healthz (liveness: the event loop runs) and Prometheus /metrics over HTTP.",
)
@click.version_option(__version__, prog_name="tokenplane-agent")
def main(
    server: str,
    token: str | None,
    token_file: Path | None,
    config_file: Path | None,
    node_name: str | None,
    state_dir: Path,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
    insecure: bool,
    hollow: bool,
    fleet: Path | None,
    startup_seconds: float,
    clock_speed: float,
    clock_start: datetime | None,
    clock_file: Path | None,
    node_tokens_file: Path | None,
    log_level: str,
    log_format: str,
    metrics_listen: str | None,
) -> None:
    """Run a node agent, or with --hollow a whole simulated fleet.

    \b
    Examples:
      tokenplane-agent --config node.yaml --server cp.example:7070 --token-file token \\
          --ca-file ca.crt --cert-file node.crt --key-file node.key
      tokenplane-agent --hollow --fleet fleet.yaml --server 127.0.0.1:7070
      tokenplane-agent --hollow --fleet fleet.yaml --clock-speed 3600 \
          --clock-start 2026-06-21T16:00:00+00:00     # a simulated day in 24 s
    """
    from controlplane.logs import redact, setup_logging
    from controlplane.tracing import setup_tracing

    setup_logging(log_level, log_format)
    setup_tracing("tokenplane-agent")
    if not hollow:
        if config_file is None:
            raise click.UsageError("give --config node.yaml (or --hollow --fleet FILE)")
        credentials = _credentials(server, ca_file, cert_file, key_file, insecure)
        bootstrap = _token(token, token_file)
        redact(bootstrap)
        watch = _observe(metrics_listen, nodes=1, mode="node")
        _run_node(config_file, node_name, server, bootstrap, state_dir, credentials, watch)
        return
    if fleet is None:
        raise click.UsageError("--hollow needs --fleet FILE")
    from controlplane.extras import MissingExtra, require

    try:
        require("solar", "tokenplane-agent --hollow (modelled solar)")
    except MissingExtra as e:
        raise click.ClickException(str(e)) from None
    from agents.config import ConfigError
    from agents.credentials import NodeTokens
    from agents.hollow import build_links, load_fleet, run_fleet
    from agents.simclock import Clock, FileClock, SimClock
    from controlplane.resources import ManifestError

    try:
        nodes = load_fleet(fleet.read_text(), str(fleet))
    except ManifestError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    clock: Clock
    if clock_file is not None:
        clock = FileClock(clock_file)
    else:
        start = clock_start or datetime.now(UTC)
        clock = SimClock.starting_now(
            start if start.tzinfo else start.replace(tzinfo=UTC), clock_speed
        )
    bootstrap = _token(token, token_file)
    redact(bootstrap)
    try:
        links = build_links(
            nodes,
            server,
            bootstrap,
            startup_s=startup_seconds,
            clock=clock,
            tokens=NodeTokens(node_tokens_file, flush_delay_s=1.0),
        )
    except ConfigError as e:
        click.echo(f"error: {fleet}: {e}", err=True)
        sys.exit(1)
    logging.getLogger("agents").info(
        "tokenplane-agent %s: %d hollow nodes -> %s",
        __version__,
        len(links),
        server,
        extra={"nodes": len(links), "server": server, "version": __version__},
    )
    watch = _observe(metrics_listen, nodes=len(links), mode="hollow")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watched(run_fleet(links), watch))


def _observe(listen: str | None, *, nodes: int, mode: str) -> LoopWatch | None:
    """The /healthz and /metrics port, when asked for."""
    if listen is None:
        return None
    from agents.observability import LoopWatch, observe_agent, serve_http

    watch = LoopWatch()
    observe_agent(watch, nodes, mode)
    serve_http(listen, watch)
    logging.getLogger("agents").info("serving /healthz and /metrics on %s", listen)
    return watch


async def _watched(main: Coroutine[Any, Any, None], watch: LoopWatch | None) -> None:
    """Runs `main` with the event-loop watch beside it (its ticks feed /healthz)."""
    if watch is None:
        await main
        return
    ticker = asyncio.create_task(watch.run())
    try:
        await main
    finally:
        ticker.cancel()


def _load_named(config_file: Path, node_name: str | None) -> NodeConfig:
    """The node config, named by --node-name where the file leaves metadata.name out."""
    import yaml

    from agents.config import ConfigError, load_config, parse_config

    if node_name is None:
        return load_config(config_file)
    try:
        doc = yaml.safe_load(config_file.read_text())
    except OSError as e:
        raise ConfigError(f"{config_file}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{config_file}: invalid YAML: {e}") from None
    if isinstance(doc, dict):
        metadata = doc.setdefault("metadata", {}) or {}
        named = metadata.get("name")
        if named and named != node_name:
            raise ConfigError(
                f"{config_file}: metadata.name is {named!r} but --node-name "
                f"(TOKENPLANE_NODE_NAME) is {node_name!r}: give one"
            )
        doc["metadata"] = {**metadata, "name": node_name}
    return parse_config(doc, str(config_file))


def _run_node(
    config_file: Path,
    node_name: str | None,
    server: str,
    token: str,
    state_dir: Path,
    credentials: grpc.ChannelCredentials | None,
    watch: LoopWatch | None = None,
) -> None:
    from agents.config import ConfigError
    from agents.node_agent import run_agent
    from agents.state import StateError

    try:
        config = _load_named(config_file, node_name)
    except ConfigError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    logging.getLogger("agents").info(
        "tokenplane-agent %s: node %s -> %s",
        __version__,
        config.metadata.name,
        server,
        extra={"node": config.metadata.name, "server": server, "version": __version__},
    )
    try:
        asyncio.run(
            _run_until_signalled(
                _watched(
                    run_agent(
                        config,
                        server=server,
                        bootstrap_token=token,
                        state_dir=state_dir,
                        credentials=credentials,
                    ),
                    watch,
                )
            )
        )
    except (ConfigError, StateError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)

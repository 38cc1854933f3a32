"""`tokenplane-server`: the control plane's command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from controlplane import __version__
from controlplane.extras import MissingExtra, require
from controlplane.logs import setup_logging
from controlplane.server.config import ServerConfig

log = logging.getLogger("controlplane.server")

DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "tokenplane"


async def serve(config: ServerConfig) -> None:
    from controlplane.server.app import ControlPlane

    plane = ControlPlane(config)
    await plane.start()
    log.info(
        "listening on %s (tokenplane-server %s)",
        plane.address,
        __version__,
        extra={"address": plane.address, "version": __version__},
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopped, lost = (
        asyncio.ensure_future(stop.wait()),
        asyncio.ensure_future(plane.lost_leadership.wait()),
    )
    await asyncio.wait([stopped, lost], return_when=asyncio.FIRST_COMPLETED)
    await plane.stop()
    if lost.done():
        sys.exit(1)


def server_config(store: str | None, options: dict[str, object]) -> ServerConfig:
    """The validated configuration from the command's options (the store defaults to
    SQLite in --state-dir); raises ValidationError naming the field."""
    state_dir = Path(str(options["state_dir"]))
    return ServerConfig.model_validate(
        {"store": store or f"sqlite:///{state_dir.resolve()}/tokenplane.db", **options}
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--listen", default="127.0.0.1:7070", help="Address of the Agent and Fleet APIs.")
@click.option(
    "--store",
    default=None,
    help="sqlite:///PATH or etcd://HOST:PORT[,HOST:PORT] "
    "(etcds:// for TLS). Default: sqlite in --state-dir.",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_STATE_DIR,
    envvar="TOKENPLANE_STATE_DIR",
    help="Local files: embedded store, bootstrap token.",
)
@click.option(
    "--heartbeat-interval",
    "heartbeat_interval_s",
    type=float,
    default=1.0,
    help="Seconds between heartbeats for a small fleet; grows with the fleet.",
)
@click.option(
    "--max-heartbeat-rate",
    type=float,
    default=4000.0,
    help="Heartbeats per second the server asks for at most, fleet-wide.",
)
@click.option("--allow-insecure", is_flag=True, help="Serve plaintext beyond loopback.")
@click.option("--tls-cert-file", type=click.Path(exists=True, path_type=Path))
@click.option("--tls-key-file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--tls-client-ca-file",
    type=click.Path(exists=True, path_type=Path),
    help="Require client certificates signed by this CA (mTLS).",
)
@click.option(
    "--bootstrap-token-file",
    type=click.Path(exists=True, path_type=Path),
    help="A join token with no limits (any new node name, no expiry). Default: "
    "STATE_DIR/bootstrap-token, made on first start. Limited tokens: tpctl create join-token.",
)
@click.option(
    "--api-tokens-file",
    type=click.Path(exists=True, path_type=Path),
    help="YAML list of {name, token, role: viewer|operator|admin} for the Fleet API. "
    "Required off loopback.",
)
@click.option(
    "--signing-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Key that signs node tokens (32+ bytes; every replica the same, e.g. a mounted "
    "Kubernetes Secret). Default: STATE_DIR/node-signing-key, made 0600 on loopback only.",
)
@click.option(
    "--node-token-ttl",
    "node_token_ttl_s",
    type=float,
    default=86400.0,
    help="Seconds a node token is valid; agents get a fresh one over their stream at half-life.",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append a JSON line per mutating call (who, verb, kind, name, time, gRPC code).",
)
@click.option(
    "--insecure-no-auth-i-know-what-i-am-doing",
    is_flag=True,
    help="Serve without API tokens off loopback: every caller on the network is admin.",
)
@click.option("--etcd-ca-file", type=click.Path(exists=True, path_type=Path))
@click.option("--etcd-cert-file", type=click.Path(exists=True, path_type=Path))
@click.option("--etcd-key-file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--ray-address", default=None, help="Ray cluster for the scheduler; default: start local Ray."
)
@click.option(
    "--scheduler",
    type=click.Choice(["ray", "inline"]),
    default="ray",
    help="Run placement in a Ray actor, or inline in this process.",
)
@click.option(
    "--replan-interval",
    "replan_interval_s",
    type=float,
    default=10.0,
    help="Seconds between re-plans that follow the energy.",
)
@click.option(
    "--max-moves-per-replan",
    type=int,
    default=5,
    help="Optional replica moves per re-plan (forced moves are not capped).",
)
@click.option(
    "--max-concurrent-moves",
    type=int,
    default=5,
    help="Make-before-break moves in flight at once (drain, re-plan).",
)
@click.option(
    "--node-grace-period",
    "node_grace_s",
    type=float,
    default=15.0,
    help="After a start or fail-over, seconds to wait for agents to reconnect "
    "before their replicas are replaced.",
)
@click.option(
    "--regions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML/JSON list of regions (landmarks) that add to or override the shipped "
    "cloud regions; a `probe: host:port` makes agents measure RTTs to it (docs/latency.md).",
)
@click.option(
    "--rtt-matrix",
    default=None,
    metavar="FILE_OR_URL",
    help="Measured RTTs, CSV source,target,rtt_ms or JSON; source is a node or a "
    "spec.location.region, target a region. Agents' own samples win.",
)
@click.option(
    "--rtt-matrix-refresh",
    "rtt_matrix_refresh_s",
    type=float,
    default=300.0,
    help="Seconds between fetches of an http(s) --rtt-matrix (a file is re-read on change).",
)
@click.option(
    "--probe-interval",
    "probe_interval_s",
    type=float,
    default=20.0,
    help="Seconds between an agent's RTT probes of each region with a probe address.",
)
@click.option(
    "--clock-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A simulated clock (the local fleet's clock.json) that times curtailment events; "
    "default: the wall clock.",
)
@click.option("--metrics-listen", default=None, help="Address for Prometheus /metrics.")
@click.option(
    "--health-listen",
    default=None,
    help="Address of a plaintext port serving only grpc.health.v1, for kubelet probes.",
)
@click.option(
    "--leader-label-pod",
    default=None,
    metavar="NAMESPACE/NAME",
    help="Pod this replica runs in: the leader labels it tokenplane.io/leader=true "
    "(the chart's routing: podLabel).",
)
@click.option(
    "--leader-elect", is_flag=True, help="Run as one of several replicas; only the leader serves."
)
@click.option(
    "--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"])
)
@click.option("--log-format", default="text", type=click.Choice(["text", "json"]))
@click.version_option(__version__, prog_name="tokenplane-server")
def main(log_level: str, log_format: str, store: str | None, **options: object) -> None:
    """Run the tokenplane control plane.

    \b
    Examples:
      tokenplane-server                                 # embedded store, loopback only
      tokenplane-server --store etcd://10.0.0.5:2379 --listen 0.0.0.0:7070 \\
          --tls-cert-file tls.crt --tls-key-file tls.key --api-tokens-file tokens.yaml
    """
    setup_logging(log_level, log_format)
    try:
        require("server", "tokenplane-server")
    except MissingExtra as e:
        raise click.ClickException(str(e)) from None
    try:
        config = server_config(store, options)
    except ValidationError as e:
        for err in e.errors():
            flag = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else ""
            click.echo(
                f"error: {flag} {err['msg'].removeprefix('Value error, ')}".strip(), err=True
            )
        sys.exit(2)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    if config.serves_without_auth_off_loopback:
        log.warning(
            "WARNING: serving %s WITHOUT AUTHENTICATION: every caller that can reach this "
            "address is admin (--insecure-no-auth-i-know-what-i-am-doing)",
            config.listen,
        )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config))

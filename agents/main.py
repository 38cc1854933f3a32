"""`tokenplane-agent`: the node agent's command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

import click

from agents import __version__

DEFAULT_TOKEN_FILE = Path.home() / ".local" / "state" / "tokenplane" / "bootstrap-token"


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
    "--log-level", default="warning", type=click.Choice(["debug", "info", "warning", "error"])
)
@click.version_option(__version__, prog_name="tokenplane-agent")
def main(
    server: str,
    token: str | None,
    token_file: Path | None,
    hollow: bool,
    fleet: Path | None,
    startup_seconds: float,
    log_level: str,
) -> None:
    """Run a node agent, or with --hollow a whole simulated fleet.

    \b
    Examples:
      tokenplane-agent --hollow --fleet fleet.yaml --server 127.0.0.1:7070
    """
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not hollow:
        raise click.UsageError("this version runs hollow fleets only: give --hollow --fleet FILE")
    if fleet is None:
        raise click.UsageError("--hollow needs --fleet FILE")
    from agents.hollow import build_links, run_fleet
    from controlplane.resources import ManifestError, Node, load_manifests

    try:
        nodes = load_manifests(fleet.read_text(), str(fleet))
    except ManifestError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    not_nodes = [r.name for r in nodes if not isinstance(r, Node)]
    if not_nodes:
        click.echo(f"error: {fleet}: only Node manifests belong in a fleet: {not_nodes}", err=True)
        sys.exit(1)
    links = build_links(
        nodes,
        server,
        _token(token, token_file),  # type: ignore[arg-type]
        startup_s=startup_seconds,
    )
    click.echo(f"tokenplane-agent {__version__}: {len(links)} hollow nodes -> {server}", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_fleet(links))

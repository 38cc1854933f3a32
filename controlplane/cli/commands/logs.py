"""`tpctl logs`: a replica's log, as its node's agent has it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, complete_replica, global_options

if TYPE_CHECKING:
    from controlplane.cli.client import FleetClient

DEFAULT_TAIL = 100
FOLLOW_POLL_S = 1.0
FOLLOW_WINDOW = 500  # lines fetched per poll: more new lines than this in a second are cut


def appended(before: list[str], after: list[str]) -> list[str]:
    """The lines of `after` (a later tail of the same log) that follow `before`: the longest
    end of `before` that starts `after` is the overlap; no overlap means all of it is new."""
    for k in range(min(len(before), len(after)), 0, -1):
        if after[:k] == before[-k:]:
            return after[k:]
    return after


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("target", metavar="REPLICA|deployment/NAME", shell_complete=complete_replica)
@click.option(
    "--tail",
    type=click.IntRange(min=0),
    default=DEFAULT_TAIL,
    show_default=True,
    help="How many of the last lines to show; 0 for the agent's default.",
)
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Then print new lines as the replica writes them, until Ctrl-C or the replica goes.",
)
@global_options()
@click.pass_context
def logs(ctx: click.Context, target: str, tail: int, follow: bool) -> None:
    """Print the last lines of a replica's log, fetched from the agent on its node.

    Given deployment/NAME, shows the log of one of its running replicas, as
    kubectl does for a Deployment. With -f, tpctl asks the agent for the tail
    every second and prints what was added since (the agent keeps no
    timestamps, so there is no --since yet).

    \b
    Examples:
      tpctl logs llama-eu-7b0abf
      tpctl logs llama-eu-7b0abf --tail 20
      tpctl logs deployment/llama-eu
      tpctl logs -f llama-eu-7b0abf
    """
    from controlplane.cli.client import connect
    from controlplane.cli.errors import CliError
    from controlplane.cli.kinds import DEPLOYMENT, REPLICA, split_args
    from controlplane.resources import ModelDeployment

    ((kind, name),) = (
        split_args((target,), (REPLICA, DEPLOYMENT)) if "/" in target else (((REPLICA, target),))
    )
    client = connect(ctx)
    if kind is DEPLOYMENT:
        deployment = client.get(kind.wire, name)
        assert isinstance(deployment, ModelDeployment)
        replicas = deployment.status.replicas if deployment.status else []
        running = [r.name for r in replicas if r.phase == "Running"]
        if not running:
            raise CliError(f"deployment/{name} has no running replica to show the log of")
        name = running[0]
        click.echo(f"Showing the log of replica {name}.", err=True)
    _, text = client.logs(name, tail)
    click.echo(text, nl=not text.endswith("\n"))
    if follow:
        _follow(client, name, text.splitlines())


def _follow(client: FleetClient, name: str, shown: list[str]) -> None:
    import time

    from controlplane.cli.errors import CliError

    try:
        while True:
            time.sleep(FOLLOW_POLL_S)
            try:
                _, text = client.logs(name, FOLLOW_WINDOW)
            except CliError as e:
                if e.reason == "NotFound":
                    click.echo(f"replica {name} is gone; its log ends here.", err=True)
                    return
                raise
            lines = text.splitlines()
            for line in appended(shown, lines):
                click.echo(line)
            shown = lines
    except KeyboardInterrupt:
        return

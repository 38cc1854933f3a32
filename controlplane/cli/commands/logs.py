"""`tpctl logs`: a replica's log, as its node's agent has it."""

from __future__ import annotations

import click

from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, complete_replica, global_options

DEFAULT_TAIL = 100


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("target", metavar="REPLICA|deployment/NAME", shell_complete=complete_replica)
@click.option(
    "--tail",
    type=click.IntRange(min=0),
    default=DEFAULT_TAIL,
    show_default=True,
    help="How many of the last lines to show; 0 for the agent's default.",
)
@global_options()
@click.pass_context
def logs(ctx: click.Context, target: str, tail: int) -> None:
    """Print the last lines of a replica's log, fetched from the agent on its node.

    Given deployment/NAME, shows the log of one of its running replicas, as
    kubectl does for a Deployment.

    \b
    Examples:
      tpctl logs llama-eu-7b0abf
      tpctl logs llama-eu-7b0abf --tail 20
      tpctl logs deployment/llama-eu
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

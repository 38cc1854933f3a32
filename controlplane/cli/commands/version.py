"""`tpctl version` and `tpctl completion`: what is running, and tab completion for shells."""

from __future__ import annotations

import click

from controlplane import __version__
from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options

SHELLS = ("bash", "zsh", "fish")


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.option(
    "--client",
    "client_only",
    is_flag=True,
    help="Only this tpctl's version; do not ask the server.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "yaml"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@global_options()
@click.pass_context
def version(ctx: click.Context, client_only: bool, output: str) -> None:
    """Print the client's version and, if the server is reachable, the server's.

    \b
    Examples:
      tpctl version
      tpctl version --client
      tpctl version -o json
    """
    data: dict[str, str] = {"clientVersion": __version__}
    error = None
    if not client_only:
        from controlplane.cli.client import connect
        from controlplane.cli.errors import CliError

        try:
            data["serverVersion"] = connect(ctx).version()
        except CliError as e:
            error = e
    if output == "text":
        click.echo(f"Client Version: {data['clientVersion']}")
        if "serverVersion" in data:
            click.echo(f"Server Version: {data['serverVersion']}")
    else:
        from controlplane.cli.output import print_data

        print_data(output, data)
    if error is not None:
        raise error


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("shell", type=click.Choice(SHELLS))
@global_options()
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print a shell script that completes tpctl's commands, types, flags and names.

    \b
    Examples:
      source <(tpctl completion bash)                    # this bash session
      tpctl completion bash > /etc/bash_completion.d/tpctl
      tpctl completion zsh > "${fpath[1]}/_tpctl"
      tpctl completion fish > ~/.config/fish/completions/tpctl.fish
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # every name in SHELLS is one of click's
    root = ctx.find_root()
    assert isinstance(root.command, click.Command)
    click.echo(completer(root.command, {}, "tpctl", "_TPCTL_COMPLETE").source())

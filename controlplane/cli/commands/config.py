"""`tpctl config`: contexts in the config file, the way `kubectl config` manages kubeconfig."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from controlplane.cli.completion import complete_context
from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options, globals_of


def _path(ctx: click.Context) -> Path:
    from controlplane.cli.config import default_config_path

    return globals_of(ctx).config_file or default_config_path()


@click.group(epilog=GLOBAL_OPTIONS_EPILOG)
@global_options()
def config() -> None:
    """Manage contexts: named servers with their TLS files and tokens.

    The config file is ~/.config/tokenplane/config.yaml, or TPCTL_CONFIG, or
    --config-file. --context and TPCTL_CONTEXT choose a context for one command;
    --server/TOKENPLANE_SERVER and --token/TOKENPLANE_TOKEN override its fields.

    \b
    Examples:
      tpctl config set-context prod --server cp.example.org:7070 \\
          --ca-file ca.crt --token-file ~/.config/tokenplane/prod.token
      tpctl config use-context prod
      tpctl config get-contexts
      tpctl --context staging get nodes
    """


@config.command("view", epilog=GLOBAL_OPTIONS_EPILOG)
@click.option("--raw", is_flag=True, help="Show tokens instead of REDACTED.")
@global_options()
@click.pass_context
def view(ctx: click.Context, raw: bool) -> None:
    """Print the config file, tokens redacted.

    \b
    Examples:
      tpctl config view
      tpctl config view --raw > backup.yaml
    """
    from controlplane.cli.config import load
    from controlplane.cli.output import print_yaml

    data = load(_path(ctx)).to_data()
    if not raw:
        for context in data["contexts"]:
            if "token" in context:
                context["token"] = "REDACTED"
    print_yaml(data)


@config.command("get-contexts", epilog=GLOBAL_OPTIONS_EPILOG)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "name"]),
    default="table",
    show_default=True,
    help="table, or name: one context name a line.",
)
@global_options()
@click.pass_context
def get_contexts(ctx: click.Context, output: str) -> None:
    """List the contexts; the current one is marked with *.

    \b
    Examples:
      tpctl config get-contexts
      tpctl config get-contexts -o name
    """
    from controlplane.cli.config import load
    from controlplane.cli.output import print_table

    cfg = load(_path(ctx))
    if output == "name":
        for context in cfg.contexts:
            click.echo(context.name)
        return
    rows = []
    for c in cfg.contexts:
        auth = "token" if c.token else "token-file" if c.token_file else "none"
        transport = "plaintext" if c.insecure else "tls" if c.ca_file else "default"
        current = "*" if c.name == cfg.current_context else ""
        rows.append([current, c.name, c.server, auth, transport])
    print_table(["CURRENT", "NAME", "SERVER", "AUTH", "TRANSPORT"], rows)


@config.command("current-context", epilog=GLOBAL_OPTIONS_EPILOG)
@global_options()
@click.pass_context
def current_context(ctx: click.Context) -> None:
    """Print the current context's name.

    \b
    Examples:
      tpctl config current-context
    """
    from controlplane.cli.config import load
    from controlplane.cli.errors import CliError

    cfg = load(_path(ctx))
    if not cfg.current_context:
        raise CliError(f"no current context in {_path(ctx)}; set one with tpctl config use-context")
    click.echo(cfg.current_context)


@config.command("use-context", epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("name", shell_complete=complete_context)
@global_options()
@click.pass_context
def use_context(ctx: click.Context, name: str) -> None:
    """Make NAME the current context.

    \b
    Examples:
      tpctl config use-context prod
    """
    from controlplane.cli.config import load, save
    from controlplane.cli.errors import CliError

    path = _path(ctx)
    cfg = load(path)
    if cfg.find(name) is None:
        known = ", ".join(c.name for c in cfg.contexts) or "none"
        raise CliError(f'no context "{name}" in {path} (contexts: {known})')
    cfg.current_context = name
    save(cfg, path)
    click.echo(f'Switched to context "{name}".')


@config.command("set-context", epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("name", shell_complete=complete_context)
@click.option("--server", "server_", metavar="HOST:PORT", help="The control plane's address.")
@click.option("--token", "token_", help="Bearer token (prefer --token-file).")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the bearer token.",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CA certificate to verify the server by.",
)
@click.option(
    "--cert-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Client certificate, for mTLS.",
)
@click.option(
    "--key-file", type=click.Path(dir_okay=False, path_type=Path), help="Client key, for mTLS."
)
@click.option("--tls-server-name", help="Name to verify the server's certificate against.")
@click.option(
    "--insecure/--secure",
    default=None,
    help="Speak plaintext even beyond loopback (tokens travel in the clear).",
)
@click.option("--use", is_flag=True, help="Also make it the current context.")
@global_options(exclude=("server", "token"))
@click.pass_context
def set_context(
    ctx: click.Context,
    name: str,
    server_: str | None,
    token_: str | None,
    use: bool,
    **fields: object,
) -> None:
    """Create a context, or change the fields given of an existing one.

    \b
    Examples:
      tpctl config set-context local --server 127.0.0.1:7070 --use
      tpctl config set-context prod --server cp.example.org:7070 --ca-file ca.crt \\
          --token-file ~/.config/tokenplane/prod.token
      tpctl config set-context prod --tls-server-name cp.example.org
    """
    from controlplane.cli.config import Context, load, save
    from controlplane.cli.errors import CliError

    path = _path(ctx)
    cfg = load(path)
    changes: dict[str, Any] = {
        k: v for k, v in {**fields, "server": server_, "token": token_}.items() if v is not None
    }
    for key in ("token_file", "ca_file", "cert_file", "key_file"):
        if key in changes:
            changes[key] = Path(str(changes[key])).expanduser().absolute()
    # A token and a token file are two ways of saying one thing: the newer one wins.
    if "token" in changes:
        changes["token_file"] = None
    elif "token_file" in changes:
        changes["token"] = None
    existing = cfg.find(name)
    if existing is None:
        if "server" not in changes:
            raise CliError(f'context "{name}" is new: give its --server')
        cfg.contexts.append(Context(name=name, **changes))
        verb = "created"
    else:
        cfg.contexts[cfg.contexts.index(existing)] = dataclasses.replace(existing, **changes)
        verb = "modified"
    if use or not cfg.current_context:
        cfg.current_context = name
    save(cfg, path)
    click.echo(f'Context "{name}" {verb}.')


@config.command("delete-context", epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("name", shell_complete=complete_context)
@global_options()
@click.pass_context
def delete_context(ctx: click.Context, name: str) -> None:
    """Remove a context.

    \b
    Examples:
      tpctl config delete-context staging
    """
    from controlplane.cli.config import load, save
    from controlplane.cli.errors import CliError

    path = _path(ctx)
    cfg = load(path)
    existing = cfg.find(name)
    if existing is None:
        raise CliError(f'no context "{name}" in {path}')
    cfg.contexts.remove(existing)
    if cfg.current_context == name:
        cfg.current_context = ""
    save(cfg, path)
    click.echo(f'Deleted context "{name}" from {path}.')

"""`tpctl scale`, `label` and `annotate`: small changes to live objects, kubectl's way."""

from __future__ import annotations

import click

from controlplane.cli.params import (
    GLOBAL_OPTIONS_EPILOG,
    complete_deployment,
    global_options,
    selector_option,
)


def _deployment_name(args: tuple[str, ...]) -> str:
    from controlplane.cli.kinds import DEPLOYMENT, split_args

    pairs = split_args(args, (DEPLOYMENT,))
    if len(pairs) != 1 or not pairs[0][1]:
        raise click.UsageError("give one deployment: scale deployment NAME, or deploy/NAME")
    return pairs[0][1]


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("args", nargs=-1, metavar="deployment NAME", shell_complete=complete_deployment)
@click.option("--replicas", type=click.IntRange(min=0), required=True, help="Desired replicas.")
@click.option(
    "--current-replicas",
    type=click.IntRange(min=0),
    default=None,
    help="Scale only if the deployment now wants this many (a precondition).",
)
@global_options()
@click.pass_context
def scale(
    ctx: click.Context, args: tuple[str, ...], replicas: int, current_replicas: int | None
) -> None:
    """Set how many replicas a deployment wants.

    A later `tpctl apply` of a file that does not name spec.replicas keeps
    this number; one that names it sets it again (the three-way merge).

    \b
    Examples:
      tpctl scale deployment chat-eu --replicas 6
      tpctl scale deploy/chat-eu --replicas 2 --current-replicas 6
    """
    from controlplane.cli.client import connect
    from controlplane.cli.errors import CliError
    from controlplane.cli.updates import update
    from controlplane.resources import ModelDeployment
    from controlplane.resources.codec import Resource

    name = _deployment_name(args)

    def set_replicas(deployment: Resource) -> bool:
        assert isinstance(deployment, ModelDeployment)
        wanted = deployment.spec.replicas
        if current_replicas is not None and wanted != current_replicas:
            raise CliError(
                f"expected {current_replicas} replicas (--current-replicas), "
                f"modeldeployment/{name} wants {wanted}",
                reason="Conflict",
            )
        if wanted == replicas:
            return False
        deployment.spec.replicas = replicas
        return True

    update(connect(ctx), "ModelDeployment", name, set_replicas)
    click.echo(f"modeldeployment/{name} scaled")


def _changes(words: tuple[str, ...], what: str) -> tuple[list[str], dict[str, str], list[str]]:
    """Split `TYPE NAME... key=value key-` into names, sets and removals."""
    sets: dict[str, str] = {}
    removals: list[str] = []
    names: list[str] = []
    for word in words:
        if "=" in word:
            key, _, value = word.partition("=")
            if not key:
                raise click.UsageError(f"{word!r}: a {what} needs a key")
            sets[key] = value
        elif word.endswith("-") and len(word) > 1 and names:
            removals.append(word[:-1])
        else:
            names.append(word)
    if not sets and not removals:
        raise click.UsageError(f"give at least one {what}: KEY=VALUE, or KEY- to remove it")
    return names, sets, removals


def _relabel(
    ctx: click.Context,
    words: tuple[str, ...],
    selector: str,
    overwrite: bool,
    field: str,
    verb: str,
) -> None:
    from controlplane.cli.client import connect
    from controlplane.cli.errors import CliError
    from controlplane.cli.kinds import split_args
    from controlplane.cli.output import name_of
    from controlplane.cli.updates import update
    from controlplane.resources.codec import Resource

    what = field[:-1]
    names, sets, removals = _changes(words, what)
    client = connect(ctx)
    targets: list[tuple[str, str]] = []
    for kind, name in split_args(tuple(names)):
        if name:
            targets.append((kind.wire, name))
        elif selector:
            targets += [(kind.wire, r.name) for r in client.list(kind.wire, selector)[0]]
        else:
            raise click.UsageError(f"give NAMEs or -l SELECTOR to {verb[:-2]} {kind.plural}")

    def change(resource: Resource) -> bool:
        current: dict[str, str] = getattr(resource.metadata, field)
        for key, value in sets.items():
            if key in current and current[key] != value and not overwrite:
                raise CliError(
                    f"{name_of(resource)} already has {what} {key}={current[key]}; "
                    "give --overwrite to replace it"
                )
        before = dict(current)
        current.update(sets)
        for key in removals:
            current.pop(key, None)
        return current != before

    for wire, name in targets:
        stored, written = update(client, wire, name, change)
        click.echo(f"{name_of(stored)} {verb if written else 'not ' + verb}")


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("words", nargs=-1, metavar="TYPE NAME... KEY=VALUE... [KEY-...]")
@selector_option
@click.option("--overwrite", is_flag=True, help="Replace a label that has another value.")
@global_options()
@click.pass_context
def label(ctx: click.Context, words: tuple[str, ...], selector: str, overwrite: bool) -> None:
    """Set or remove labels on objects.

    \b
    Examples:
      tpctl label deployment chat-eu team=search
      tpctl label node edge-7 rack=b2 --overwrite
      tpctl label deploy chat-eu team-          # remove it
      tpctl label nodes -l tier=edge pool=spot
    """
    _relabel(ctx, words, selector, overwrite, "labels", "labeled")


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("words", nargs=-1, metavar="TYPE NAME... KEY=VALUE... [KEY-...]")
@selector_option
@click.option("--overwrite", is_flag=True, help="Replace an annotation that has another value.")
@global_options()
@click.pass_context
def annotate(ctx: click.Context, words: tuple[str, ...], selector: str, overwrite: bool) -> None:
    """Set or remove annotations on objects.

    \b
    Examples:
      tpctl annotate deployment chat-eu tokenplane.io/tokens-per-second=2400
      tpctl annotate deploy chat-eu note-
    """
    _relabel(ctx, words, selector, overwrite, "annotations", "annotated")


__all__ = ["annotate", "label", "scale"]

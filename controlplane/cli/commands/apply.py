"""`tpctl apply`, `diff` and `delete`: desired state from manifests, kubectl-style."""

from __future__ import annotations

import click

from controlplane.cli.errors import CliError
from controlplane.cli.params import (
    GLOBAL_OPTIONS_EPILOG,
    filename_option,
    global_options,
    recursive_option,
    selector_option,
)


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@filename_option(required=True)
@recursive_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Have the server validate and report what it would do, changing nothing.",
)
@global_options()
@click.pass_context
def apply(ctx: click.Context, filenames: tuple[str, ...], recursive: bool, dry_run: bool) -> None:
    """Create or update resources from manifests.

    Takes multi-document YAML (or JSON): nodes, deployments and replicas with
    apiVersion tokenplane.io/v1. Each object is reported as created, configured
    or unchanged. Every document is validated before any is sent. An object that
    names a metadata.resourceVersion is updated only if it is still at that
    version (otherwise: Conflict).

    \b
    Examples:
      tpctl apply -f llama-eu.yaml
      tpctl apply -f deployments/ -R
      cat fleet.yaml | tpctl apply -f -
      tpctl apply -f llama-eu.yaml --dry-run
    """
    from controlplane.cli import manifests
    from controlplane.cli.client import connect
    from controlplane.cli.output import name_of

    objects = manifests.read(filenames, recursive=recursive)
    client = connect(ctx)
    failed: list[CliError] = []
    for m in objects:
        try:
            _, result = client.apply(m.resource, dry_run=dry_run)
        except CliError as e:
            failed.append(e.within(f"{m.source}: {name_of(m.resource)}"))
            continue
        click.echo(f"{name_of(m.resource)} {result}" + (" (dry run)" if dry_run else ""))
    _raise_last(failed)


def _raise_last(errors: list[CliError]) -> None:
    """Shows every error, then exits 1 with the last, so that none is hidden."""
    for error in errors[:-1]:
        error.show()
    if errors:
        raise errors[-1]


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@filename_option(required=True)
@recursive_option
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when there are differences (as git diff --exit-code)."
)
@global_options()
@click.pass_context
def diff(ctx: click.Context, filenames: tuple[str, ...], recursive: bool, exit_code: bool) -> None:
    """Show what `tpctl apply -f` would change, as a unified diff.

    The server computes the result of the apply without storing it (a dry
    run), so defaults and validation are the server's own. Only what apply
    changes is compared: labels, annotations and spec. Exit code 0 whether or
    not there are differences, unless --exit-code.

    \b
    Examples:
      tpctl diff -f llama-eu.yaml
      tpctl diff -f deployments/ --exit-code || tpctl apply -f deployments/
    """
    from controlplane.cli import manifests
    from controlplane.cli.client import connect
    from controlplane.cli.diffing import unified_diff
    from controlplane.cli.output import name_of

    objects = manifests.read(filenames, recursive=recursive)
    client = connect(ctx)
    changed = False
    failed: list[CliError] = []
    for m in objects:
        try:
            live = client.find(m.resource.kind, m.resource.name)
            merged, _ = client.apply(m.resource, dry_run=True)
        except CliError as e:
            failed.append(e.within(f"{m.source}: {name_of(m.resource)}"))
            continue
        lines = unified_diff(name_of(m.resource), live, merged)
        for line in lines:
            color = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1])
            click.secho(line, fg=color, bold=line.startswith(("+++", "---")))
        changed = changed or bool(lines)
    _raise_last(failed)
    if changed and exit_code:
        ctx.exit(1)


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("args", nargs=-1, metavar="[TYPE NAME... | TYPE/NAME...]")
@filename_option(required=False)
@recursive_option
@selector_option
@click.option("--all", "all_", is_flag=True, help="Delete every object of TYPE.")
@click.option("--ignore-not-found", is_flag=True, help="Treat objects that are gone as deleted.")
@global_options()
@click.pass_context
def delete(
    ctx: click.Context,
    args: tuple[str, ...],
    filenames: tuple[str, ...],
    recursive: bool,
    selector: str,
    all_: bool,
    ignore_not_found: bool,
) -> None:
    """Delete resources by name, by label selector, or as named in manifests.

    With -f, an object whose manifest names metadata.resourceVersion is deleted
    only if it is still at that version (otherwise: Conflict).

    \b
    Examples:
      tpctl delete deployment llama-eu
      tpctl delete deploy/llama-eu deploy/mistral-us
      tpctl delete -f llama-eu.yaml
      tpctl delete deployments -l team=search
    """
    from controlplane.cli import manifests
    from controlplane.cli.client import connect
    from controlplane.cli.kinds import BY_WIRE, split_args

    if bool(filenames) == bool(args):
        raise click.UsageError("give TYPE NAME..., TYPE/NAME..., or -f FILE (one of them)")
    client = connect(ctx)
    # (kind, name, resourceVersion precondition)
    targets: list[tuple[str, str, str]] = []
    if filenames:
        for m in manifests.read(filenames, recursive=recursive):
            meta = m.resource.metadata
            targets.append((m.resource.kind, meta.name, meta.resource_version))
    for kind, name in split_args(args) if args else []:
        if name:
            targets.append((kind.wire, name, ""))
        elif not (all_ or selector):
            raise click.UsageError(f"give NAMEs, -l SELECTOR or --all to delete {kind.plural}")
        else:
            listed, _ = client.list(kind.wire, selector)
            targets += [(kind.wire, r.name, "") for r in listed]
    failed: list[CliError] = []
    for kind, name, version in targets:
        try:
            client.delete(kind, name, version)
        except CliError as e:
            if not (ignore_not_found and e.reason == "NotFound"):
                failed.append(e)
            continue
        click.echo(f'{BY_WIRE[kind].singular} "{name}" deleted')
    _raise_last(failed)

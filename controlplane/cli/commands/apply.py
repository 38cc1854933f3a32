"""`tpctl apply`, `diff` and `delete`: desired state from manifests, kubectl-style."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from controlplane.cli.errors import CliError
from controlplane.cli.params import (
    GLOBAL_OPTIONS_EPILOG,
    filename_option,
    global_options,
    recursive_option,
    selector_option,
)

if TYPE_CHECKING:
    from controlplane.cli.client import FleetClient
    from controlplane.cli.manifests import Manifest
    from controlplane.resources.codec import Resource


DRY_RUN = ("none", "client", "server")
DRY_RUN_SUFFIX = {"none": "", "client": " (dry run)", "server": " (server dry run)"}
CONFLICT_RETRIES = 3

dry_run_option = click.option(
    "--dry-run",
    type=click.Choice(DRY_RUN),
    default="none",
    is_flag=False,
    flag_value="server",
    show_default=True,
    help="client: merge and print what would be sent, without sending it; server: the "
    "server validates and answers as for a real apply, storing nothing. A bare --dry-run "
    "means server.",
)


class DiffFailed(CliError):
    """diff's own failure: exit 2, as 1 means "there are differences" (kubectl's codes)."""

    exit_code = 2


@dataclass(frozen=True)
class Planned:
    live: Resource | None
    merged: Resource  # what apply sends: the three-way merge, with last-applied


def plan(client: FleetClient, m: Manifest) -> Planned:
    """The live object, and the three-way merge of the manifest into it (cli/merge.py)."""
    from controlplane.cli.merge import three_way
    from controlplane.cli.output import manifest
    from controlplane.resources import ManifestError, parse_manifest

    written = m.resource.model_dump(mode="json", by_alias=True, exclude_unset=True)
    live = client.find(m.resource.kind, m.resource.name)
    merged_doc = three_way(written, manifest(live) if live is not None else None)
    try:
        merged = parse_manifest(merged_doc, m.source)
    except ManifestError as e:
        raise CliError("; ".join(f"{where}: {why}" for where, why in e.problems)) from None
    if live is not None and not m.resource.metadata.resource_version:
        # read-modify-write: a change made since the read is a Conflict, and apply retries
        merged.metadata.resource_version = live.metadata.resource_version
    return Planned(live, merged)


def apply_one(client: FleetClient, m: Manifest, dry_run: str) -> str:
    """created, configured or unchanged; retried when someone else wrote the object meanwhile
    (unless the manifest names its own resourceVersion: then the Conflict is the answer)."""
    for attempt in range(CONFLICT_RETRIES):
        planned = plan(client, m)
        if dry_run == "client":
            if planned.live is None:
                return "created"
            return "unchanged" if _same(planned.live, planned.merged) else "configured"
        try:
            _, result = client.apply(planned.merged, dry_run=dry_run == "server")
            return result
        except CliError as e:
            pinned = bool(m.resource.metadata.resource_version)
            if e.reason != "Conflict" or pinned or attempt == CONFLICT_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _same(live: Resource, merged: Resource) -> bool:
    """What the server compares to say unchanged: labels, annotations and spec."""
    return (
        live.metadata.labels == merged.metadata.labels
        and live.metadata.annotations == merged.metadata.annotations
        and live.spec == merged.spec
    )


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@filename_option(required=True)
@recursive_option
@dry_run_option
@global_options()
@click.pass_context
def apply(ctx: click.Context, filenames: tuple[str, ...], recursive: bool, dry_run: str) -> None:
    """Create or update resources from manifests, merging as kubectl apply does.

    Takes multi-document YAML (or JSON): nodes, deployments and replicas with
    apiVersion tokenplane.io/v1. Each object is reported as created, configured
    or unchanged. Every document is validated before any is sent.

    \b
    A three-way merge, as kubectl's client-side apply: what you applied last is
    kept in the annotation tokenplane.io/last-applied-configuration; a field you
    remove from the file is removed from the object, a field you never wrote
    (a label another tool set, replicas changed by tpctl scale) is kept. An
    object whose manifest names metadata.resourceVersion is updated only if it
    is still at that version (otherwise: Conflict).

    \b
    Examples:
      tpctl apply -f llama-eu.yaml
      tpctl apply -f deployments/ -R
      cat fleet.yaml | tpctl apply -f -
      tpctl apply -f llama-eu.yaml --dry-run=server
    """
    from controlplane.cli import manifests
    from controlplane.cli.client import connect
    from controlplane.cli.output import name_of

    objects = manifests.read(filenames, recursive=recursive)
    client = connect(ctx)
    failed: list[CliError] = []
    for m in objects:
        try:
            result = apply_one(client, m, dry_run)
        except CliError as e:
            failed.append(e.within(f"{m.source}: {name_of(m.resource)}"))
            continue
        click.echo(f"{name_of(m.resource)} {result}{DRY_RUN_SUFFIX[dry_run]}")
    _raise_last(failed)


def _raise_last(errors: list[CliError], as_type: type[CliError] = CliError) -> None:
    """Shows every error, then exits with the last, so that none is hidden."""
    for error in errors[:-1]:
        error.show()
    if errors:
        last = errors[-1]
        raise last if as_type is CliError else as_type(last.detail, reason=last.reason)


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@filename_option(required=True)
@recursive_option
@click.option("--exit-code", is_flag=True, hidden=True, help="Kept for old scripts: the default.")
@global_options()
@click.pass_context
def diff(ctx: click.Context, filenames: tuple[str, ...], recursive: bool, exit_code: bool) -> None:
    """Show what `tpctl apply -f` would change, as a unified diff.

    The three-way merge apply would send goes to the server as a dry run, so
    defaults and validation are the server's own. Only what apply changes is
    compared: labels, annotations and spec. Coloured on a terminal.

    \b
    Exit status, as kubectl diff: 0 no differences, 1 differences, 2 an error.

    \b
    Examples:
      tpctl diff -f llama-eu.yaml
      tpctl diff -f deployments/ || tpctl apply -f deployments/
    """
    from controlplane.cli import manifests
    from controlplane.cli.client import connect
    from controlplane.cli.diffing import unified_diff
    from controlplane.cli.output import name_of

    try:
        objects = manifests.read(filenames, recursive=recursive)
        client = connect(ctx)
    except CliError as e:
        raise DiffFailed(e.detail, reason=e.reason) from None
    changed = False
    failed: list[CliError] = []
    for m in objects:
        try:
            planned = plan(client, m)
            merged, _ = client.apply(planned.merged, dry_run=True)
        except CliError as e:
            failed.append(e.within(f"{m.source}: {name_of(m.resource)}"))
            continue
        lines = unified_diff(name_of(m.resource), planned.live, merged)
        for line in lines:
            color = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1])
            click.secho(line, fg=color, bold=line.startswith(("+++", "---")))
        changed = changed or bool(lines)
    _raise_last(failed, DiffFailed)
    if changed:
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
      tpctl delete join-token abcdef
    """
    from controlplane.cli import manifests
    from controlplane.cli.client import connect
    from controlplane.cli.kinds import BY_WIRE, split_args

    if bool(filenames) == bool(args):
        raise click.UsageError("give TYPE NAME..., TYPE/NAME..., or -f FILE (one of them)")
    from controlplane.cli.commands.identity import JOIN_TOKEN_ALIASES, delete_join_tokens

    if args and args[0].lower() in JOIN_TOKEN_ALIASES:
        delete_join_tokens(ctx, list(args[1:]))
        return
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
    for wire, name, version in targets:
        try:
            client.delete(wire, name, version)
        except CliError as e:
            if not (ignore_not_found and e.reason == "NotFound"):
                failed.append(e)
            continue
        click.echo(f'{BY_WIRE[wire].singular} "{name}" deleted')
    _raise_last(failed)

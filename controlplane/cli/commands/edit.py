"""`tpctl edit`: an object in $EDITOR, validated on save, and reopened with the error if bad."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import click

from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options, type_argument

DEFAULT_EDITOR = "vi"
HEADER = (
    "# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
    "# and an empty file will abort the edit. If an error occurs while saving this file\n"
    "# will be reopened with the relevant failures.\n#\n"
)


def editor_command() -> list[str]:
    """$TPCTL_EDITOR, $EDITOR or vi, split as a shell would (`code --wait` works)."""
    text = os.environ.get("TPCTL_EDITOR") or os.environ.get("EDITOR") or DEFAULT_EDITOR
    return shlex.split(text)


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _desired(document: dict[str, Any]) -> dict[str, Any]:
    """What an edit is about: the object without its status and resourceVersion."""
    metadata = {k: v for k, v in document.get("metadata", {}).items() if k != "resourceVersion"}
    return {k: v for k, v in document.items() if k != "status"} | {"metadata": metadata}


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@type_argument
@global_options()
@click.pass_context
def edit(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Edit an object in your editor, then save it to the server.

    \b
    Opens the object's YAML (without status) in $TPCTL_EDITOR, $EDITOR or vi.
    On save it is validated as apply validates a manifest; if that fails, or
    the server refuses it, the file is reopened with the error at the top.
    Saving it unchanged, or empty, cancels. The object is saved only if nobody
    changed it meanwhile (a status update does not count): otherwise, a
    Conflict, and your edit is kept in a file named in the message.

    \b
    Examples:
      tpctl edit deployment chat-eu
      EDITOR="code --wait" tpctl edit node edge-7
    """
    import yaml

    from controlplane.cli.client import connect
    from controlplane.cli.errors import CliError
    from controlplane.cli.kinds import split_args
    from controlplane.cli.output import manifest, name_of
    from controlplane.resources import ManifestError, load_manifests

    pairs = split_args(args)
    if len(pairs) != 1 or not pairs[0][1]:
        raise click.UsageError("give one object: edit TYPE NAME, or TYPE/NAME")
    kind, name = pairs[0]
    client = connect(ctx)
    live = client.get(kind.wire, name)
    document = manifest(live)
    document.pop("status", None)
    original = yaml.safe_dump(document, sort_keys=False)
    text = HEADER + original
    fd, tmp = tempfile.mkstemp(prefix=f"tpctl-edit-{name}-", suffix=".yaml")
    os.close(fd)
    path = Path(tmp)
    last_failed: str | None = None  # the same errors twice in a row end the edit, as kubectl
    while True:
        path.write_text(text)
        try:
            subprocess.run([*editor_command(), str(path)], check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise CliError(f"the editor failed ({e}); your edit is in {path}") from None
        edited = _strip_comments(path.read_text())
        if not edited.strip() or edited.strip() == original.strip():
            path.unlink(missing_ok=True)
            click.echo("Edit cancelled, no changes made.")
            return
        try:
            resources = load_manifests(edited, str(path))
            if len(resources) != 1 or name_of(resources[0]) != name_of(live):
                raise ManifestError(
                    [(str(path), f"the file must hold {name_of(live)} alone, as opened")]
                )
            try:
                stored, result = client.apply(resources[0])
            except CliError as e:
                # A status write (the reconciler's) bumps the version but changes nothing
                # the user saw: save on top of it, as kubectl's patch would. Anything else
                # that changed is a real Conflict.
                current = client.get(kind.wire, name) if e.reason == "Conflict" else None
                if current is None or _desired(manifest(current)) != _desired(document):
                    raise
                resources[0].metadata.resource_version = current.metadata.resource_version
                stored, result = client.apply(resources[0])
        except ManifestError as e:
            problems = [f"{where}: {why}" for where, why in e.problems]
        except CliError as e:
            if e.reason in ("Conflict", "NotFound"):
                raise CliError(
                    f"{e.detail}\nYour edit is kept in {path}", reason=e.reason
                ) from None
            problems = [e.format_message()]
        else:
            path.unlink(missing_ok=True)
            click.echo(f"{name_of(stored)} {'edited' if result != 'unchanged' else 'unchanged'}")
            return
        errors = "".join(f"# {line}\n" for p in problems for line in p.splitlines())
        text = HEADER + "# The edited file had errors:\n" + errors + "#\n" + edited + "\n"
        if edited == last_failed:
            raise CliError(f"the same errors again; edit cancelled, your edit is in {path}")
        last_failed = edited

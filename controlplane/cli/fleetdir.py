"""Which local fleet `tpctl up`, `down` and `report` mean: its state dir, found as kind finds
a cluster.

In this order: `--state-dir`, `$TOKENPLANE_STATE_DIR` (both "explicit": a fleet
that is not there is an error), the `stateDir` that `tpctl up` wrote into the
`local` context of the config file (so that `tpctl down` finds a fleet started
with `--state-dir` from another shell), and the default,
`$XDG_STATE_HOME/tokenplane/up`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click
from click.core import ParameterSource

from controlplane.cli.settings import globals_of

LOCAL_CONTEXT = "local"

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TOKENPLANE_STATE_DIR",
    default=None,
    help="Where the local fleet keeps its store, logs, samples and report "
    "[env TOKENPLANE_STATE_DIR; default: the one tpctl up last used, else "
    "$XDG_STATE_HOME/tokenplane/up].",
)


@dataclass(frozen=True, slots=True)
class StateDir:
    path: Path
    how: str  # "--state-dir", "TOKENPLANE_STATE_DIR", 'context "local"' or "the default"

    @property
    def explicit(self) -> bool:
        """Named by the user: a fleet that is not there is an error, not a no-op."""
        return self.how in ("--state-dir", "TOKENPLANE_STATE_DIR")


def default_state_dir() -> Path:
    """$XDG_STATE_HOME/tokenplane/up, ~/.local/state/tokenplane/up without it."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "tokenplane" / "up"


def config_path(ctx: click.Context) -> Path:
    from controlplane.cli.config import default_config_path

    return globals_of(ctx).config_file or default_config_path()


def from_context(ctx: click.Context) -> Path | None:
    """The state dir `tpctl up` recorded in the `local` context, if any."""
    from controlplane.cli.config import load

    local = load(config_path(ctx)).find(LOCAL_CONTEXT)
    return local.state_dir if local is not None else None


def find(ctx: click.Context, state_dir: Path | None, *, use_context: bool = True) -> StateDir:
    """The state dir a command means; `use_context` off for `up`, which starts a new fleet."""
    if state_dir is not None:
        source = ctx.get_parameter_source("state_dir")
        how = "TOKENPLANE_STATE_DIR" if source is ParameterSource.ENVIRONMENT else "--state-dir"
        return StateDir(_absolute(state_dir), how)
    recorded = from_context(ctx) if use_context else None
    if recorded is not None:
        return StateDir(_absolute(recorded), f'context "{LOCAL_CONTEXT}"')
    return StateDir(_absolute(default_state_dir()), "the default")


def _absolute(path: Path) -> Path:
    return path.expanduser().resolve()

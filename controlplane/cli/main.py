"""`tpctl`'s root command: global flags, and subcommands loaded only when used.

Listed here by name and module path, in the sections kubectl users know, so
that start-up imports nothing but click and the command that runs.
"""

from __future__ import annotations

import importlib

import click
from click_didyoumean import DYMGroup

from controlplane import __version__
from controlplane.cli.params import global_options

# (section, [(command, "module:attribute")])
SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Local Fleet Commands",
        [
            ("up", "controlplane.cli.commands.up:up"),
            ("down", "controlplane.cli.commands.down:down"),
            ("report", "controlplane.cli.commands.report:report"),
        ],
    ),
    (
        "Basic Commands",
        [
            ("get", "controlplane.cli.commands.get:get"),
            ("describe", "controlplane.cli.commands.describe:describe"),
            ("explain", "controlplane.cli.commands.discovery:explain"),
            ("apply", "controlplane.cli.commands.apply:apply"),
            ("diff", "controlplane.cli.commands.apply:diff"),
            ("edit", "controlplane.cli.commands.edit:edit"),
            ("delete", "controlplane.cli.commands.apply:delete"),
        ],
    ),
    (
        "Deploy Commands",
        [
            ("scale", "controlplane.cli.commands.modify:scale"),
            ("wait", "controlplane.cli.commands.wait:wait"),
            ("label", "controlplane.cli.commands.modify:label"),
            ("annotate", "controlplane.cli.commands.modify:annotate"),
        ],
    ),
    (
        "Node Management Commands",
        [
            ("cordon", "controlplane.cli.commands.node:cordon"),
            ("uncordon", "controlplane.cli.commands.node:uncordon"),
            ("drain", "controlplane.cli.commands.node:drain"),
            ("curtail", "controlplane.cli.commands.curtail:curtail"),
        ],
    ),
    (
        "Identity Commands",
        [
            ("create", "controlplane.cli.commands.identity:create"),
            ("approve", "controlplane.cli.commands.identity:approve"),
            ("revoke", "controlplane.cli.commands.identity:revoke"),
        ],
    ),
    (
        "Observability Commands",
        [
            ("top", "controlplane.cli.commands.top:top"),
            ("events", "controlplane.cli.commands.events:events"),
            ("logs", "controlplane.cli.commands.logs:logs"),
        ],
    ),
    (
        "Settings Commands",
        [
            ("api-resources", "controlplane.cli.commands.discovery:api_resources"),
            ("config", "controlplane.cli.commands.config:config"),
            ("version", "controlplane.cli.commands.version:version"),
            ("completion", "controlplane.cli.commands.version:completion"),
        ],
    ),
]
COMMANDS = dict(entry for _, entries in SECTIONS for entry in entries)


class LazyGroup(DYMGroup):
    """A group whose subcommands are imported on first use, listed in sections; a mistyped
    command gets git's "Did you mean" (click-didyoumean)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        path = COMMANDS.get(cmd_name)
        if path is None:
            return None
        module, attribute = path.split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        width = max(len(name) for name in COMMANDS)
        for section, entries in SECTIONS:
            rows = []
            for name, _ in entries:
                command = self.get_command(ctx, name)
                assert command is not None
                help_ = command.get_short_help_str(formatter.width - 6 - width)
                rows.append((name.ljust(width), help_))
            with formatter.section(section):
                formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@global_options(root=True)
@click.version_option(__version__, "--version", prog_name="tpctl", message="%(prog)s %(version)s")
def cli() -> None:
    """tpctl controls a tokenplane fleet: AI inference sites placed by energy and proximity.

    Like kubectl: get, describe, apply -f, delete, cordon, drain, top; and beside
    the usual columns, where the power is, how clean it is, and why each model runs
    where it runs.

    \b
    Examples:
      tpctl get nodes -o wide                 # tier, GPUs, power, renewables, carbon
      tpctl apply -f deployments/             # create or update every manifest there
      tpctl describe deployment llama-eu      # why each replica runs where it runs
      tpctl top nodes --sort-by carbon        # the dirtiest power first
      tpctl --context prod get deploy -w      # watch another fleet
    """


def main() -> None:
    """Entry point; exit codes: 0 ok, 1 error, 2 usage error (click's own convention)."""
    cli(prog_name="tpctl")

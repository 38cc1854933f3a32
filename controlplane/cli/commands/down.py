"""`tpctl down`: stop what `tpctl up` started, report on the run, and leave nothing running."""

from __future__ import annotations

from pathlib import Path

import click

from controlplane.cli.commands.up import resolve_state_dir, state_dir_option
from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options


def bring_down(state_dir: Path, *, report: bool) -> None:
    """Report (if asked and there are samples), stop every process, restore tpctl's context."""
    from controlplane.cli.errors import CliError
    from controlplane.localfleet import lifecycle
    from controlplane.localfleet.run import RECORD, SAMPLES, load_record

    record = load_record(state_dir)
    if record is None:
        click.echo(f"No local fleet in {state_dir}; nothing to stop.")
        return
    if report and (state_dir / SAMPLES).exists():
        from controlplane.cli.commands.report import show_report

        show_report(state_dir, output="table")
    killed = lifecycle.stop_processes(record)
    lifecycle.forget_context(record)
    left = lifecycle.leftovers(record)
    if left:
        raise CliError(f"processes still running after tpctl down: {left}")
    (state_dir / RECORD).unlink(missing_ok=True)
    for name in record.pids:
        (state_dir / f"{name}.pid").unlink(missing_ok=True)
    forced = f" ({len(killed)} killed after the grace period)" if killed else ""
    click.echo(
        f"Stopped the local fleet at {record.server}: server, Ray, {record.nodes} hollow "
        f"nodes and the recorder{forced}; nothing left running. Samples and logs stay "
        f"in {state_dir}."
    )


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@state_dir_option
@click.option("--no-report", is_flag=True, help="Stop without printing the run's report.")
@global_options()
def down(state_dir: Path | None, no_report: bool) -> None:
    """Stop the local fleet that tpctl up started, and everything it started (Ray included).

    \b
    Prints the run's report first (tpctl report), removes tpctl's `local`
    context and makes the context that was current before current again.
    The state dir keeps the logs, samples and report; the next tpctl up
    starts afresh.

    \b
    Examples:
      tpctl down
      tpctl down --no-report
    """
    bring_down(resolve_state_dir(state_dir), report=not no_report)

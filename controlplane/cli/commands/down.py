"""`tpctl down`: stop what `tpctl up` started, report on the run, and leave nothing running."""

from __future__ import annotations

from pathlib import Path

import click

from controlplane.cli import fleetdir
from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options


def bring_down(state_dir: Path, *, report: bool) -> bool:
    """Report (if asked and there are samples), stop every process, restore tpctl's context.

    Returns False when there is no record of a fleet in `state_dir`, so nothing was stopped.
    """
    from controlplane.cli.errors import CliError
    from controlplane.localfleet import lifecycle
    from controlplane.localfleet.run import RECORD, SAMPLES, load_record

    record = load_record(state_dir)
    if record is None:
        return False
    if report and (state_dir / SAMPLES).exists():
        from controlplane.cli.commands.report import show_report

        try:
            show_report(state_dir, output="table")
        except CliError as e:  # no samples yet: the stop matters more than the report
            e.show()
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
    return True


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@fleetdir.state_dir_option
@click.option("--no-report", is_flag=True, help="Stop without printing the run's report.")
@global_options()
@click.pass_context
def down(ctx: click.Context, state_dir: Path | None, no_report: bool) -> None:
    """Stop the local fleet that tpctl up started, and everything it started (Ray included).

    \b
    The fleet is the one in --state-dir or TOKENPLANE_STATE_DIR; without them,
    the one the `local` context names (tpctl up writes it there), else the
    default state dir. Told a state dir with no fleet in it, down fails (exit
    1) rather than pretend it stopped something.

    \b
    Prints the run's report first (tpctl report), removes tpctl's `local`
    context and makes the context that was current before current again.
    The state dir keeps the logs, samples and report; the next tpctl up
    starts afresh.

    \b
    Examples:
      tpctl down
      tpctl down --no-report
      tpctl down --state-dir /tmp/fleet-a
    """
    from controlplane.cli.errors import CliError

    where = fleetdir.find(ctx, state_dir)
    if bring_down(where.path, report=not no_report):
        return
    if where.explicit:
        raise CliError(
            f"no local fleet in {where.path} (from {where.how}): there is no up.json there, "
            "so nothing was stopped; give the state dir tpctl up was started with"
        )
    click.echo(f"No local fleet is up (looked in {where.path}, {where.how}); nothing to stop.")

"""`tpctl report`: how a local fleet's run went: carbon per million tokens, SLO, moves, a plot."""

from __future__ import annotations

from pathlib import Path

import click

from controlplane.cli import fleetdir
from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options


def show_report(state_dir: Path, *, output: str, png: Path | None = None) -> None:
    """Prints the report of the samples in `state_dir` and draws its plot (PNG)."""
    import json

    from controlplane.cli.errors import CliError
    from controlplane.cli.output import print_table
    from controlplane.localfleet.report import (
        FOOTNOTES,
        HEADERS,
        KIND_FOOTNOTES,
        KIND_HEADERS,
        kind_rows,
        load_samples,
        plot,
        rows,
        summarise,
    )
    from controlplane.localfleet.run import REPORT_JSON, REPORT_PNG, SAMPLES

    try:
        samples = load_samples(state_dir / SAMPLES)
    except FileNotFoundError:
        raise CliError(f"no samples in {state_dir}: start a fleet with tpctl up") from None
    if not samples:
        raise CliError(f"no samples yet in {state_dir / SAMPLES}; try again in a few seconds")
    report = summarise(samples)
    (state_dir / REPORT_JSON).write_text(json.dumps(report.to_json(), indent=1) + "\n")
    png = png or state_dir / REPORT_PNG
    try:
        plot(samples, png)
        drawn = str(png)
    except ImportError as e:  # matplotlib comes with the [report] extra (MissingExtra says so)
        drawn = f"not drawn: {e}"
    if output == "json":
        click.echo(json.dumps({**report.to_json(), "plot": drawn}, indent=2))
        return
    click.echo(
        f"Report: simulated {report.sim_start} to {report.sim_end} UTC, {report.samples} samples"
    )
    print_table(HEADERS, rows(report))
    if report.carbon_by_kind:
        click.echo("Carbon by kind (never added together; Scope 2 location- and market-based):")
        print_table(KIND_HEADERS, kind_rows(report))
    violations = ", ".join(report.over_budget) or "none"
    click.echo(f"Power-budget violations: {violations}")
    click.echo(f"Plot: {drawn}")
    for note in (*FOOTNOTES, *KIND_FOOTNOTES):
        click.echo(f"  * {note}")


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@fleetdir.state_dir_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--png",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to draw the plot [default: STATE_DIR/report.png].",
)
@global_options()
@click.pass_context
def report(ctx: click.Context, state_dir: Path | None, output: str, png: Path | None) -> None:
    """Report on the local fleet's run so far: carbon, renewables, SLO, moves, and a plot.

    \b
    From the samples the recorder of tpctl up keeps (every 10 simulated
    minutes): fleet and per-deployment carbon per million tokens, renewable
    share of the replicas' power, share of demand served within its latency
    SLO, replica moves (make-before-break), power-budget violations; and a
    PNG of carbon and renewable share over the simulated time. Works while
    the fleet runs and after tpctl down.

    \b
    Examples:
      tpctl report
      tpctl report -o json
      tpctl report --png day.png
    """
    show_report(fleetdir.find(ctx, state_dir).path, output=output, png=png)

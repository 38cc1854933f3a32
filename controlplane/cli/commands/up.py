"""`tpctl up`: a whole tokenplane on this machine in one command, showing what it is for.

The control plane on its embedded store with local Ray, a hollow fleet in real
cities whose solar follows a (possibly fast) simulated clock, and sample
deployments with demand from real populations; then the placements, and with
--clock-speed the day passing. The steps are in controlplane/localfleet; this
module shows them happening (rich progress on stderr) and prints the result.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from controlplane.cli import fleetdir
from controlplane.cli.params import DURATION, GLOBAL_OPTIONS_EPILOG, global_options

if TYPE_CHECKING:
    from rich.console import RenderableType

    from controlplane.cli.client import FleetClient
    from controlplane.localfleet.lifecycle import FleetFiles
    from controlplane.localfleet.observe import FleetNow
    from controlplane.localfleet.run import RunRecord

POLL_S = 0.25
WATCH_REFRESH_S = 1.0
# Signals that end a foreground `tpctl up` as Ctrl-C does: the report, then a clean stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal, systemd, a supervisor) become Ctrl-C while up
    runs in the foreground, so that they too stop what was started instead of orphaning it."""
    previous = {s: signal.signal(s, _interrupt) for s in STOP_SIGNALS if s != signal.SIGINT}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def uninterruptible() -> Iterator[None]:
    """A stop that has begun finishes: a second Ctrl-C or SIGTERM would leave half a fleet."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _clock_start(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        start = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time such as 2026-06-21T17:00:00Z",
            param_hint="--clock-start",
        ) from None
    return start if start.tzinfo else start.replace(tzinfo=UTC)


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.option(
    "--fleet",
    "fleet_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your own fleet (docs/fleet-file.md) instead of the default "
    "one, with its own ModelDeployments (none: no samples either).",
)
@click.option(
    "--nodes",
    type=click.IntRange(min=5),
    default=100,
    show_default=True,
    help="Size of the default fleet: factories, cloud regions, edge nodes.",
)
@click.option(
    "--clock-speed",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Simulated seconds per real second: 3600 makes a day "
    "pass in 24 s, the sun rising and setting across the time zones.",
)
@click.option(
    "--clock-start",
    metavar="ISO8601",
    help="Simulated time to start from, e.g. 2023-07-14 or "
    "2026-06-21T17:00:00Z; the clock stands there until every deployment runs. Sites in "
    "a zone with real hours replay that date's hour of 2023 [default: now].",
)
@click.option(
    "-d",
    "--detach",
    is_flag=True,
    help="Return once everything runs; stop it "
    "with tpctl down. Without it, tpctl up watches until Ctrl-C, then reports and "
    "stops.",
)
@fleetdir.state_dir_option
@click.option(
    "--listen",
    default="127.0.0.1:7070",
    show_default=True,
    help="Address of the control plane (loopback; port 0 picks a free one).",
)
@click.option(
    "--scheduler",
    type=click.Choice(["ray", "inline"]),
    default="ray",
    show_default=True,
    help="Placement in a local Ray actor, or inline.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=DURATION,
    default="120s",
    show_default=True,
    help="How long to wait for every deployment to be Running.",
)
@global_options()
@click.pass_context
def up(
    ctx: click.Context,
    fleet_file: Path | None,
    nodes: int,
    clock_speed: float,
    clock_start: str | None,
    detach: bool,
    state_dir: Path | None,
    listen: str,
    scheduler: str,
    timeout_s: float,
) -> None:
    """Start a whole tokenplane on this machine: control plane, hollow fleet, sample models.

    \b
    The control plane runs on its embedded store with local Ray; the fleet is
    hollow (simulated machines, real gRPC streams): token factories, cloud
    regions and edge nodes in real cities, whose solar (pvlib, clear sky) and
    grid carbon (published per country) are modelled at the simulated hour.
    Sample deployments place models near their users on the cleanest power,
    and move them, make-before-break, as the sun and the grid change. tpctl's
    context `local` is pointed at it.

    \b
    Examples:
      tpctl up                                     # real time, watch until Ctrl-C
      tpctl up --clock-speed 3600 --detach         # a simulated day in 24 s
      watch -n1 tpctl top nodes --sort-by renewable   # ... the sun moving
      tpctl report                                 # carbon per token, SLO, moves
      tpctl down                                   # stop it all
      tpctl up --fleet my-fleet.yaml               # your own fleet (docs/fleet-file.md)
    """
    from controlplane.cli.errors import CliError
    from controlplane.extras import MissingExtra, require
    from controlplane.localfleet import lifecycle
    from controlplane.localfleet.launcher import LaunchError
    from controlplane.resources import ManifestError

    try:  # the server, hollow agents (modelled solar) and the report's plot
        for extra in ("server", "solar", "report"):
            require(extra, "tpctl up")
    except MissingExtra as e:
        raise CliError(f"{e}, or [all]") from None
    started = time.monotonic()
    directory = fleetdir.find(ctx, state_dir, use_context=False).path
    start = _clock_start(clock_start)
    config_file = fleetdir.config_path(ctx)
    try:
        files = (
            lifecycle.read_fleet_file(fleet_file) if fleet_file else lifecycle.default_files(nodes)
        )
    except ManifestError as e:
        raise CliError(str(e)) from None
    _refuse_second_fleet(ctx, directory)
    with stop_on_signals():
        try:
            record = _bring_up(
                directory,
                files,
                listen,
                scheduler,
                start,
                clock_speed,
                config_file,
                started,
                timeout_s,
            )
        except (LaunchError, lifecycle.AlreadyUp, CliError, TimeoutError) as e:
            raise CliError(str(e).removeprefix("error: ")) from None
        _print_up(record, directory, files)
        if not detach:
            _watch_then_down(record, directory)


def _refuse_second_fleet(ctx: click.Context, directory: Path) -> None:
    """One local fleet at a time per config file: the `local` context can name only one."""
    from controlplane.cli.errors import CliError
    from controlplane.localfleet.lifecycle import running_fleet

    recorded = fleetdir.from_context(ctx)
    if recorded is None or recorded.expanduser().resolve() == directory:
        return
    other = running_fleet(recorded)
    if other is not None:
        raise CliError(
            f"a local fleet is already up in {recorded} (server {other.server}); "
            f"stop it with: tpctl down --state-dir {recorded}"
        )


class PlainProgress:
    """Progress for a pipe or a log file: a line when a step starts and when it is done,
    instead of spinners and bars redrawn in place."""

    def __init__(self) -> None:
        self._tasks: dict[int, list[Any]] = {}  # id -> [description, total, completed]

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float, completed: float = 0) -> int:
        task = len(self._tasks)
        self._tasks[task] = [description, total, completed]
        self._say(task, done=completed >= total)
        return task

    def update(
        self, task: int, *, completed: float | None = None, description: str | None = None
    ) -> None:
        state = self._tasks[task]
        was_done = state[2] >= state[1]
        if description is not None:
            state[0] = description
        if completed is not None:
            state[2] = completed
        if state[2] >= state[1] and not was_done:
            self._say(task, done=True)

    def _say(self, task: int, *, done: bool) -> None:
        description, total, completed = self._tasks[task]
        count = f" {completed:g}/{total:g}" if total > 1 else ""
        click.echo(f"{description}{count}" if done else f"{description} ...", err=True)


def _progress() -> Any:
    """rich's progress bars on a terminal (stderr), plain lines elsewhere."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        return PlainProgress()
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _bring_up(
    directory: Path,
    files: FleetFiles,
    listen: str,
    scheduler: str,
    start: datetime,
    clock_speed: float,
    config_file: Path,
    started: float,
    timeout_s: float,
) -> RunRecord:
    """Every step under a progress display; on failure or a signal, whatever started is
    stopped."""
    from controlplane.localfleet import lifecycle
    from controlplane.localfleet.recorder import local_client
    from controlplane.localfleet.run import RunRecord

    lifecycle.prepare(directory, files)
    tiers = ", ".join(f"{n} {tier}" for tier, n in sorted(files.tiers().items()))
    record: RunRecord | None = None
    progress = _progress()
    try:
        with progress:
            progress.add_task(
                f"Fleet written: {len(files.nodes)} nodes ({tiers})", total=1, completed=1
            )
            task = progress.add_task(
                "Starting the control plane (embedded store, local Ray)", total=1
            )
            lifecycle.stop_clock(directory, start, clock_speed)
            server, address = lifecycle.start_server(directory, listen, scheduler, clock_speed)
            record = RunRecord(
                server=address,
                pids={"server": server.pid},
                config_file=str(config_file),
                nodes=len(files.nodes),
            )
            record.save(directory)
            progress.update(task, completed=1, description=f"Control plane listening on {address}")
            record.pids["agents"] = lifecycle.start_agents(directory, address).pid
            record.pids["recorder"] = lifecycle.start_recorder(directory).pid
            record.previous_context = lifecycle.use_context(config_file, address, directory)
            record.save(directory)
            client = local_client(address)
            nodes_task = progress.add_task("Hollow nodes Ready", total=len(files.nodes))
            _wait(
                progress,
                nodes_task,
                None,
                client,
                record,
                directory,
                started + timeout_s,
                need_nodes=True,
            )
            lifecycle.apply(client, files.deployments)
            replicas_task = progress.add_task(
                f"Replicas Running ({len(files.deployments)} deployments)",
                total=sum(d.spec.replicas for d in files.deployments),
            )
            _wait(
                progress,
                nodes_task,
                replicas_task,
                client,
                record,
                directory,
                started + timeout_s,
                need_nodes=False,
            )
    except BaseException:
        if record is not None:
            with uninterruptible():
                lifecycle.stop_processes(record)
                lifecycle.forget_context(record)
        raise
    lifecycle.start_clock(directory)
    record.running_after_s = time.monotonic() - started
    record.save(directory)
    return record


def _wait(
    progress: Any,
    nodes_task: int,
    replicas_task: int | None,
    client: FleetClient,
    record: RunRecord,
    directory: Path,
    deadline: float,
    *,
    need_nodes: bool,
) -> None:
    """Polls until every node is Ready (`need_nodes`) or every deployment is Running;
    fails at once if a process of the fleet exits."""
    from controlplane.localfleet import lifecycle

    while True:
        lifecycle.check_alive(record, directory)
        state = lifecycle.poll(client)
        progress.update(nodes_task, completed=state.nodes_ready)
        if replicas_task is not None:
            progress.update(replicas_task, completed=state.replicas_running)
        if (state.nodes_ready >= state.nodes > 0) if need_nodes else state.done:
            return
        if time.monotonic() > deadline:
            what = (
                f"{state.nodes_ready}/{state.nodes} nodes Ready"
                if need_nodes
                else f"{state.deployments_running}/{state.deployments} deployments Running"
            )
            raise TimeoutError(
                f"only {what} before --timeout; see the logs in the state dir "
                "and tpctl describe deployments"
            )
        time.sleep(POLL_S)


def placements_table(sample: FleetNow) -> list[list[str]]:
    """Deployment, replica, node, city, RTT, carbon and renewable share of each replica now."""
    return [
        [
            r.deployment,
            r.name,
            r.node,
            r.city,
            r.phase,
            f"{r.rtt_ms:.0f}",
            f"{r.carbon_g_per_kwh:.0f}",
            f"{r.renewable_share * 100:.0f}%",
        ]
        for r in sample.replicas
    ]


PLACEMENT_HEADERS = [
    "DEPLOYMENT",
    "REPLICA",
    "NODE",
    "CITY",
    "PHASE",
    "RTT(ms)",
    "CARBON(g/kWh)",
    "RENEWABLE",
]


def _sim_time(sim_s: float) -> str:
    return datetime.fromtimestamp(sim_s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _observe(record: RunRecord, directory: Path) -> FleetNow:
    from controlplane.localfleet import run
    from controlplane.localfleet.observe import observe
    from controlplane.localfleet.recorder import local_client

    return observe(
        local_client(record.server), wall_s=time.time(), sim_s=run.clock(directory).now_s()
    )


def _print_up(record: RunRecord, directory: Path, files: FleetFiles) -> None:
    from controlplane.cli.output import print_table
    from controlplane.localfleet import run

    sample = _observe(record, directory)
    speed = run.clock(directory).clock.speed
    assert record.running_after_s is not None
    click.echo(
        f"\ntokenplane is up: {len(files.nodes)} hollow nodes, {len(files.deployments)} "
        f"deployments Running after {record.running_after_s:.1f}s.\n"
        f'  server      {record.server}   (tpctl context "local", now current)\n'
        f"  state dir   {directory}   (logs/, samples.jsonl)\n"
        f"  clock       {_sim_time(sample.sim_s)}, x{speed:g} (simulated; solar follows it)\n"
    )
    print_table(PLACEMENT_HEADERS, placements_table(sample))
    click.echo(
        "\nGrid carbon and price replay real 2023 hours where a site's zone has them (else "
        "the country's annual figure); solar is clear-sky. "
        "tpctl describe node NAME says where each figure comes from.\n"
        "Next: tpctl get deployments | tpctl top nodes --sort-by renewable | "
        "tpctl describe deployment chat-eu | tpctl report | tpctl down"
    )


def _watch_view(record: RunRecord, directory: Path, speed: float) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from controlplane.cli.errors import CliError

    try:
        sample = _observe(record, directory)
    except CliError as e:
        return Text(f"cannot reach the server: {e.detail}")
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in PLACEMENT_HEADERS:
        table.add_column(header, no_wrap=True)
    for row in placements_table(sample):
        table.add_row(*row)
    share = sample.renewable_used_kw / sample.it_draw_kw if sample.it_draw_kw else 0.0
    moves = sum(1 for r in sample.replicas if r.replaces)
    head = Text(
        f"{_sim_time(sample.sim_s)} (x{speed:g})   nodes Ready "
        f"{sample.nodes_ready}/{sample.nodes_total}   fleet draw {sample.it_draw_kw:,.0f} kW, "
        f"{share:.0%} renewable   replicas that moved in: {moves}   Ctrl-C: report and stop",
        style="bold",
    )
    return Group(head, table)


def _watch_then_down(record: RunRecord, directory: Path) -> None:
    """The live view until Ctrl-C, SIGTERM or SIGHUP; then the report and a clean stop."""
    from rich.console import Console

    from controlplane.cli.commands.down import bring_down
    from controlplane.localfleet import run

    speed = run.clock(directory).clock.speed
    console = Console()
    try:
        if console.is_terminal:
            _live_view(console, record, directory, speed)
        else:
            _plain_view(record, directory)
    except KeyboardInterrupt:
        pass
    with uninterruptible():
        bring_down(directory, report=True)


def _live_view(console: Any, record: RunRecord, directory: Path, speed: float) -> None:
    from rich.live import Live

    with Live(_watch_view(record, directory, speed), console=console, refresh_per_second=2) as live:
        while True:
            time.sleep(WATCH_REFRESH_S)
            live.update(_watch_view(record, directory, speed))


def _plain_view(record: RunRecord, directory: Path) -> None:
    """For a pipe or a log: one line per change (placements, moves, stops, nodes lost and
    back), stamped with the simulated time, flushed at once."""
    from controlplane.cli.errors import CliError
    from controlplane.localfleet.observe import changes

    click.echo(
        "Watching for changes (placements, moves, nodes NotReady); SIGINT or SIGTERM: "
        "report and stop."
    )
    sys.stdout.flush()
    before = _observe(record, directory)
    reachable = True
    while True:
        time.sleep(WATCH_REFRESH_S)
        try:
            now = _observe(record, directory)
        except CliError as e:
            if reachable:
                click.echo(f"cannot reach the server: {e.detail}")
            reachable = False
            continue
        reachable = True
        for line in changes(before, now):
            click.echo(f"{_sim_time(now.sim_s)}  {line}")
        sys.stdout.flush()
        before = now

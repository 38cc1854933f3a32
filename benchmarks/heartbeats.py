"""Heartbeat benchmark (issue 2): how many nodes one server holds, and what each costs.

Why it is built this way:

- **Ceiling in the same run.** A bare grpc.aio server (`hb_server.py bare`: same
  server options, reads and counts the same AgentMessage, nothing else) is
  driven by the same load generator just before ours, so the ratio is not
  skewed by whatever else this shared 2-core machine does at the time.
- **Same offered load.** The load generator is the shipped hollow agent
  (`hb_agents.py`, in several processes). Throughput is measured with every
  link unthrottled (SIGUSR1: 1 ms interval, whatever the server asks), so both
  servers get all the load the generator can make; production behaviour
  (the server's own interval, `max(1 s, N / 4000)`) is measured separately.
- **Two cores shared.** The agents run at nice 10, so the server gets first
  call on a core, as it would on its own machine. In the unthrottled windows
  the server is pinned to one core and the agents to the other, so both
  servers get exactly the same share. The generator costs about as much CPU
  per message as the server, so it is usually the limit: beside msgs/s we
  report msgs per server CPU-second (at the same offered load), and the
  CPU other processes took, since this machine is shared: of 3 windows the
  least disturbed is kept.
- **Liveness is the stream's.** A killed agent's sockets close at once; a
  frozen one (SIGSTOP) is found by the server's HTTP/2 keepalive pings. Those
  pings cost CPU per connection on both sides, and a ping not acknowledged in
  time drops the connection (GOAWAY ping_timeout): counted, because past some
  fleet size that turns into a reconnect storm and the fleet never gets in.
- **Server-side numbers.** Messages are counted where the server handles them
  and Ready transitions are stamped with CLOCK_MONOTONIC inside the server
  (see hb_server.py); CPU and RSS come from /proc/PID; time to NotReady is
  the transition's stamp minus the instant this process sent SIGKILL/SIGSTOP.
- **A connection per node** (as real nodes have), unless --shared-connection.
  The server then needs a file descriptor per node: RLIMIT_NOFILE's hard limit
  caps N (20,000 in this sandbox), and the cap is reported, not hidden.

- **A busy machine** (`--busy N`): N busy loops at normal priority run
  through each server's whole run, the same for both, and the machine's load
  average is reported beside the figures: liveness must hold when the control
  plane itself is late.

    python benchmarks/heartbeats.py [--nodes 1000,10000,20000] [--busy 1] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.connection import TOLD_WAIT_JITTER
from controlplane.api.admission import MAX_RETRY_AFTER_S
from controlplane.inventory import liveness

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
FD_RESERVE = 128  # the server's own files, sockets and pipes beside one per node
TARGET_HANDLED_RATIO = 0.8
TARGET_NOTREADY_S = 3.0
TARGET_BYTES_PER_NODE = 4000
BASE_INTERVAL_S = 1.0
MAX_HEARTBEAT_RATE = 4000.0


@dataclass
class Timing:
    settle_s: float = 4.0
    window_s: float = 10.0
    warm_s: float = 3.0
    liveness_timeout_s: float = 25.0
    tries: int = 3  # unthrottled windows per server; the least disturbed one is kept
    quiet_wait_s: float = 20.0  # how long to wait for other processes to calm down


@dataclass
class Window:
    """One measurement window: server-side rate, CPU in cores, RSS."""

    handled_per_s: float
    sent_per_s: float
    server_cpu: float
    agents_cpu: float
    other_cpu: float
    rss_kb: int
    connected_after: int  # the server's count at the window's end: did anyone drop out?

    @property
    def per_cpu_s(self) -> float:
        return self.handled_per_s / self.server_cpu if self.server_cpu else 0.0


@dataclass
class ServerRun:
    kind: str
    nodes: int
    connected: int = 0
    connect_s: float = 0.0
    join_cpu_s: float = 0.0  # the server's CPU time from the first agent to all in
    idle_rss_kb: int = 0
    interval_s: float = 0.0
    production: Window | None = None
    saturated: Window | None = None
    kill_notready_s: list[float] = field(default_factory=list)
    stop_notready_s: list[float] = field(default_factory=list)
    cont_ready_s: list[float] = field(default_factory=list)
    collapsed: bool = False
    ping_timeouts: int = 0  # GOAWAY "ping_timeout" lines logged by the server and agents
    join_flaps: int = 0  # nodes marked NotReady (for any reason) while the fleet joined
    join_flaps_generator_stalled: int = 0  # ... while their own load generator was stalled
    settle_s: float = 0.0  # from all in to no Ready transitions for a while
    load_joined: float = 0.0  # the machine's 1-minute load average when all were in
    load_measured: float = 0.0  # ... and at the end of the production window
    notes: list[str] = field(default_factory=list)

    @property
    def bytes_per_node(self) -> float:
        if not self.production or not self.connected:
            return 0.0
        return (self.production.rss_kb - self.idle_rss_kb) * 1024 / self.connected


# --- processes and /proc -------------------------------------------------------------------


class Proc:
    """A child in its own process group (signals reach it alone), logging to a file."""

    def __init__(self, args: list[str], log: Path, *, nice: int = 0) -> None:
        self.log = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            ["nice", "-n", str(nice), *args] if nice else args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=log.parent,
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.pid, sig)

    def stop(self) -> None:
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(10)
        self._log.close()

    def tail(self, n: int = 2000) -> str:
        return self.log.read_bytes()[-n:].decode(errors="replace")


@contextmanager
def cpu_hog(cores: int) -> Iterator[None]:
    """`cores` busy loops at normal priority: other work on the machine, the same for both."""
    procs = [
        subprocess.Popen([PYTHON, "-c", "while True: pass"], start_new_session=True)
        for _ in range(cores)
    ]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def set_affinity(pid: int, cpus: set[int]) -> None:
    """Moves every thread of a process (threads it starts later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that just ended
            os.sched_setaffinity(int(tid), cpus)


@contextmanager
def pinned(server: Proc, fleet: Fleet, enabled: bool) -> Iterator[None]:
    """For the throughput windows: the server on one core of its own, the agents on the rest.

    Each side then has a known share, whatever the scheduler would have done, so
    the two servers are compared on equal terms; joins and production run unpinned.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2:
        yield
        return
    agents = [p for p in fleet.all() if p.alive()]
    set_affinity(server.pid, {cpus[0]})
    for p in agents:
        set_affinity(p.pid, set(cpus[1:]))
    try:
        yield
    finally:
        for p in (server, *agents):
            if p.alive():
                set_affinity(p.pid, set(cpus))


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_s() -> float:
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_json(path: Path) -> dict[str, Any]:
    for _ in range(20):  # written by os.replace, but may not exist yet
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            time.sleep(0.05)
    return {}


def wait_for(check: Callable[[], bool], timeout_s: float, poll_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(poll_s)
    return check()


def raise_fd_limit() -> int:
    """Children inherit it: the server needs a descriptor per node connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --- one server under load -----------------------------------------------------------------


@dataclass
class Fleet:
    """Agent processes: the main fleet, and two small victims (real server only)."""

    main: list[Proc]
    victims: dict[str, Proc]
    stats: list[Path]
    nodes_per_proc: int = 0  # main processes run nodes node-0.. in blocks of this many

    def all(self) -> Iterator[Proc]:
        yield from self.main
        yield from self.victims.values()

    def sent(self) -> int:
        return sum(int(read_json(p).get("sent", 0)) for p in self.stats)


GENERATOR_STALL_S = 1.0  # a load generator's loop this late cannot heartbeat on time
STALL_LOOKBACK_S = liveness.MAX_DEADLINE_S  # the longest heartbeat deadline


def generator_stalled(fleet: Fleet, node: str, t: float) -> bool:
    """Whether the process running `node` had its event loop stalled >= GENERATOR_STALL_S
    in the STALL_LOOKBACK_S before `t`: a load generator of 5,000 nodes that falls behind
    silences them all at once, which a real fleet of separate machines would not."""
    prefix, _, index = node.rpartition("-")
    if prefix != "node" or not fleet.main:
        return False
    stats = read_json(fleet.stats[int(index) // fleet.nodes_per_proc]).get("stalls_by_s", {})
    return any(
        late_s >= GENERATOR_STALL_S and t - STALL_LOOKBACK_S <= int(s) + late_s and int(s) <= t
        for s, late_s in stats.items()
    )


def start_agents(
    work: Path,
    server: str,
    token_file: Path | None,
    nodes: int,
    victim_nodes: int,
    args: argparse.Namespace,
) -> Fleet:
    def agent(prefix: str, first: int, count: int, tag: str) -> tuple[Proc, Path]:
        stats = work / f"agents-{tag}.json"
        argv = [
            PYTHON,
            str(HERE / "hb_agents.py"),
            "--server",
            server,
            "--prefix",
            prefix,
            "--first",
            str(first),
            "--count",
            str(count),
            "--stats",
            str(stats),
            "--ramp",
            str(ramp),
        ]
        if token_file:
            argv += ["--token-file", str(token_file)]
        if args.shared_connection:
            argv.append("--shared-connection")
        for option in args.agent_option:
            argv += ["--channel-option", option]
        return Proc(argv, work / f"agents-{tag}.log", nice=10), stats

    procs, ramp = args.agent_procs, args.ramp
    main_nodes = nodes - 2 * victim_nodes
    per = math.ceil(main_nodes / procs)
    fleet = Fleet([], {}, [], per)
    for i in range(procs):
        count = min(per, main_nodes - i * per)
        if count > 0:
            proc, stats = agent("node", i * per, count, str(i))
            fleet.main.append(proc)
            fleet.stats.append(stats)
    for prefix in ("kill", "stop") if victim_nodes else ():
        proc, stats = agent(prefix, 0, victim_nodes, prefix)
        fleet.victims[prefix] = proc
        fleet.stats.append(stats)
    return fleet


def wait_connected(
    stats: Path, fleet: Fleet, nodes: int, args: argparse.Namespace, log: Callable
) -> tuple[int, int]:
    """Waits for every node to be in (Ready on ours); gives up when the count stops rising."""
    ramp_s = nodes / (args.ramp * args.agent_procs)
    best, best_at, last_log = 0, time.monotonic(), time.monotonic()
    while True:
        for p in fleet.all():
            if not p.alive():
                raise RuntimeError(f"agent process died:\n{p.tail()}")
        count = int(read_json(stats).get("ready", 0))
        now = time.monotonic()
        if count >= nodes:
            return count, count
        if count > best:
            best, best_at = count, now
        # No progress for longer than an agent told to come back can wait (the join gate's
        # longest retry-after and the agent's jitter on it): collapsed or stuck.
        if now - best_at > max(MAX_RETRY_AFTER_S * (1 + TOLD_WAIT_JITTER) + 5, ramp_s):
            return count, best
        if now - last_log > 10:
            log(f"    {count} in")
            last_log = now
        time.sleep(0.25)


def wait_settled(transitions: Path, quiet_s: float, timeout_s: float) -> bool:
    """Waits until no node has changed Ready for `quiet_s`: the join storm is over."""
    deadline = time.monotonic() + timeout_s
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = transitions.stat().st_size if transitions.exists() else 0
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return True
        time.sleep(0.25)
    return False


def measure(server: Proc, stats: Path, fleet: Fleet, seconds: float) -> Window:
    agents = [p for p in fleet.all() if p.alive()]
    s0, sent0 = read_json(stats), fleet.sent()
    c0, a0, m0, t0 = (
        cpu_s(server.pid),
        sum(cpu_s(p.pid) for p in agents),
        machine_busy_s(),
        (time.monotonic()),
    )
    time.sleep(seconds)
    s1, sent1 = read_json(stats), fleet.sent()
    c1, a1, m1, t1 = (
        cpu_s(server.pid),
        sum(cpu_s(p.pid) for p in agents),
        machine_busy_s(),
        (time.monotonic()),
    )
    dt = t1 - t0
    server_cpu, agents_cpu = (c1 - c0) / dt, (a1 - a0) / dt
    return Window(
        handled_per_s=(s1["heartbeats"] - s0["heartbeats"]) / (s1["t"] - s0["t"]),
        sent_per_s=(sent1 - sent0) / dt,
        server_cpu=server_cpu,
        agents_cpu=agents_cpu,
        other_cpu=max(0.0, (m1 - m0) / dt - server_cpu - agents_cpu),
        rss_kb=rss_kb(server.pid),
        connected_after=int(s1.get("ready", 0)),
    )


def wait_quiet(pids: list[int], max_wait_s: float, threshold: float = 0.3) -> None:
    """Waits, within bounds, until processes not ours use under `threshold` cores."""
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        ours0, m0, t0 = sum(cpu_s(p) for p in pids), machine_busy_s(), time.monotonic()
        time.sleep(1.0)
        ours1, m1, t1 = sum(cpu_s(p) for p in pids), machine_busy_s(), time.monotonic()
        if ((m1 - m0) - (ours1 - ours0)) / (t1 - t0) < threshold:
            return


def measure_quietest(server: Proc, stats: Path, fleet: Fleet, timing: Timing) -> Window:
    """This machine is shared: of a few windows, keep the one other processes disturbed least."""
    windows = []
    for _ in range(timing.tries):
        pids = [server.pid, *(p.pid for p in fleet.all() if p.alive())]
        wait_quiet(pids, timing.quiet_wait_s)
        windows.append(measure(server, stats, fleet, timing.window_s))
    return min(windows, key=lambda w: w.other_cpu)


def transitions_after(path: Path, t0: float, prefix: str, ready: bool) -> dict[str, float]:
    """First transition of each `prefix-*` node to `ready` after t0: seconds since t0."""
    found: dict[str, float] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) < 3 or not parts[1].startswith(prefix + "-"):
            continue
        t, name, is_ready = float(parts[0]), parts[1], parts[2] == "1"
        if t >= t0 and is_ready == ready and name not in found:
            found[name] = t - t0
    return found


def time_to(
    path: Path, t0: float, prefix: str, ready: bool, count: int, timeout_s: float
) -> list[float]:
    wait_for(lambda: len(transitions_after(path, t0, prefix, ready)) >= count, timeout_s, 0.05)
    return sorted(transitions_after(path, t0, prefix, ready).values())


def run_server(
    kind: str, nodes: int, work: Path, args: argparse.Namespace, timing: Timing, log: Callable
) -> ServerRun:
    shutil.rmtree(work, ignore_errors=True)  # a store left by an earlier run knows the nodes
    work.mkdir(parents=True)
    run = ServerRun(kind, nodes)
    interval = liveness.heartbeat_interval_s(
        nodes, base_s=BASE_INTERVAL_S, max_rate_per_s=MAX_HEARTBEAT_RATE
    )
    run.interval_s = interval
    stats = work / "server.json"
    server_args = [PYTHON, str(HERE / "hb_server.py"), kind, "--stats", str(stats)]
    if kind == "bare":  # told up front what ours converges to for this fleet size
        server_args += ["--heartbeat-interval", str(interval)]
    else:
        server_args += [
            "--state-dir",
            str(work),
            "--heartbeat-interval",
            str(BASE_INTERVAL_S),
            "--max-heartbeat-rate",
            str(MAX_HEARTBEAT_RATE),
        ]
    for option in args.server_option:
        server_args += ["--server-option", option]
    server = Proc(server_args, work / "server.log")
    fleet: Fleet | None = None
    try:
        if not wait_for(lambda: "listening on" in server.tail() or not server.alive(), 60) or (
            not server.alive()
        ):
            raise RuntimeError(f"{kind} server did not start:\n{server.tail()}")
        address = server.tail().split("listening on ")[1].split()[0]
        time.sleep(1.0)
        run.idle_rss_kb = rss_kb(server.pid)
        victims = args.victim_nodes if kind == "real" else 0
        token = work / "bootstrap-token" if kind == "real" else None
        t0, cpu0_s = time.monotonic(), cpu_s(server.pid)
        fleet = start_agents(work, address, token, nodes, victims, args)
        run.connected, peak = wait_connected(stats, fleet, nodes, args, log)
        run.connect_s = time.monotonic() - t0
        run.join_cpu_s = cpu_s(server.pid) - cpu0_s
        run.load_joined = os.getloadavg()[0]
        run.ping_timeouts = sum(
            p.log.read_text(errors="replace").count("ping_timeout") for p in (server, *fleet.all())
        )
        log(f"  {kind}: {run.connected} nodes in after {run.connect_s:.1f} s")
        if run.connected < nodes:
            run.collapsed = True
            run.notes.append(
                f"{kind}, {_n(nodes)} nodes: {_n(run.connected)} in after {run.connect_s:.0f} s "
                f"(peak {_n(peak)}); {_n(run.ping_timeouts)} GOAWAY ping_timeout logged"
            )
            return run
        if kind == "real":  # the sweep loop retunes the interval as the fleet grows
            t1 = time.monotonic()
            wait_for(lambda: abs(read_json(stats).get("interval_s", 0) - interval) < 1e-6, 10)
            transitions = stats.with_suffix(".transitions")
            if not wait_settled(transitions, max(timing.settle_s, 2 * interval), 120):
                run.notes.append(f"real, {_n(nodes)} nodes: Ready transitions never stopped")
            run.settle_s = time.monotonic() - t1
            lines = [line.split() for line in transitions.read_text().splitlines()]
            flaps = [f for f in lines if f[2:3] == ["0"]]  # NotReady, for any reason
            run.join_flaps = len(flaps)
            run.join_flaps_generator_stalled = sum(
                generator_stalled(fleet, f[1], float(f[0])) for f in flaps
            )
        else:
            time.sleep(max(timing.settle_s, 2 * interval))
        wait_quiet([server.pid, *(p.pid for p in fleet.all())], timing.quiet_wait_s)
        run.production = measure(server, stats, fleet, max(timing.window_s, 3 * interval))
        run.load_measured = os.getloadavg()[0]
        log(f"  {kind}: production {run.production}")
        with pinned(server, fleet, args.pin):
            for p in fleet.main:
                p.signal(signal.SIGUSR1)
            time.sleep(timing.warm_s)
            run.saturated = measure_quietest(server, stats, fleet, timing)
            log(f"  {kind}: unthrottled {run.saturated}")
            for p in fleet.main:
                p.signal(signal.SIGUSR2)
        if kind == "real":
            time.sleep(timing.settle_s)
            liveness_tests(run, fleet, stats.with_suffix(".transitions"), args, timing, log)
    finally:
        for p in fleet.all() if fleet else ():
            p.stop()
        server.stop()
    return run


def liveness_tests(
    run: ServerRun,
    fleet: Fleet,
    transitions: Path,
    args: argparse.Namespace,
    timing: Timing,
    log: Callable,
) -> None:
    v = args.victim_nodes
    victim = fleet.victims["kill"]
    t0 = time.monotonic()
    victim.signal(signal.SIGKILL)
    run.kill_notready_s = time_to(transitions, t0, "kill", False, v, timing.liveness_timeout_s)
    log(f"  SIGKILL: NotReady after {run.kill_notready_s}")
    victim = fleet.victims["stop"]
    t0 = time.monotonic()
    victim.signal(signal.SIGSTOP)
    run.stop_notready_s = time_to(transitions, t0, "stop", False, v, timing.liveness_timeout_s)
    log(f"  SIGSTOP: NotReady after {run.stop_notready_s}")
    time.sleep(0.5)
    t0 = time.monotonic()
    victim.signal(signal.SIGCONT)
    run.cont_ready_s = time_to(transitions, t0, "stop", True, v, timing.liveness_timeout_s)
    log(f"  SIGCONT: Ready again after {run.cont_ready_s}")


# --- report --------------------------------------------------------------------------------


def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def _worst(xs: list[float], expected: int) -> str:
    if not xs:
        return "not seen"
    missing = f" ({expected - len(xs)} not seen)" if len(xs) < expected else ""
    return f"{max(xs):.2f} (median {statistics.median(xs):.2f}){missing}"


class _Missing(Exception):
    """A figure that was not measured: that server collapsed before the window."""


def report(pairs: list[tuple[ServerRun, ServerRun]], args: argparse.Namespace) -> str:
    head = ["", *[f"{_n(real.nodes)} nodes" for _, real in pairs], "target"]
    rows: list[list[str]] = []

    def sat(run: ServerRun) -> Window:
        if run.saturated is None:
            raise _Missing
        return run.saturated

    def prod(run: ServerRun) -> Window:
        if run.production is None:
            raise _Missing
        return run.production

    def each(fn: Callable[[ServerRun], str], run: ServerRun) -> str:
        try:
            return fn(run)
        except _Missing:
            return "collapsed"

    def pair(
        label: str,
        fn: Callable[[ServerRun], str],
        target: str = "",
        ratio: Callable[[ServerRun], float] | None = None,
    ) -> None:
        """A row of `ours / bare` cells, with ours ÷ bare when `ratio` is given."""
        cells = []
        for b, r in pairs:
            cell = f"{each(fn, r)} / {each(fn, b)}"
            if ratio is not None:
                with contextlib.suppress(_Missing):
                    cell += f" = **{_ratio(ratio(r), ratio(b))}**"
            cells.append(cell)
        rows.append([label, *cells, target])

    def ours(label: str, fn: Callable[[ServerRun], str], target: str = "") -> None:
        rows.append([label, *[each(fn, r) for _, r in pairs], target])

    def mem(run: ServerRun) -> float:
        prod(run)
        return run.bytes_per_node

    def handled(run: ServerRun) -> float:
        return sat(run).handled_per_s

    def per_cpu(run: ServerRun) -> float:
        return sat(run).per_cpu_s

    pair(
        "machine load average (1 min) when all in → after production: ours / bare",
        lambda r: f"{r.load_joined:.1f} → {r.load_measured:.1f}",
    )
    pair("connected: ours / bare", lambda r: _n(r.connected))
    pair(
        "join storm, s to all in: ours (Ready) / bare (stream up) = ratio",
        lambda r: f"{r.connect_s:.1f}",
        "≤ 1.5",
        lambda r: r.connect_s,
    )
    pair(
        "server CPU while joining, ms per node: ours / bare = ratio",
        lambda r: f"{r.join_cpu_s / max(r.connected, 1) * 1000:.2f}",
        ratio=lambda r: r.join_cpu_s,
    )
    pair("GOAWAY ping_timeout while joining: ours / bare", lambda r: _n(r.ping_timeouts), "0")
    ours(
        "NotReady flaps (any reason) while joining; s until quiet, ours",
        lambda r: (
            (
                f"{_n(r.join_flaps)} ({_n(r.join_flaps_generator_stalled)} while their load "
                f"generator stalled >= {GENERATOR_STALL_S:.0f} s); {r.settle_s:.0f}"
            )
            if prod(r)
            else ""
        ),
        "0",
    )
    pair(
        "**unthrottled: telemetry handled (msg/s)**: ours / bare = ratio",
        lambda r: _n(handled(r)),
        f"≥ {TARGET_HANDLED_RATIO}",
        handled,
    )
    pair(
        "**unthrottled: msg per server CPU-second**: ours / bare = ratio",
        lambda r: _n(per_cpu(r)),
        f"≥ {TARGET_HANDLED_RATIO}",
        per_cpu,
    )
    pair("unthrottled: server CPU (cores): ours / bare", lambda r: f"{sat(r).server_cpu:.2f}")
    pair(
        "unthrottled: load generator CPU (cores): ours / bare", lambda r: f"{sat(r).agents_cpu:.2f}"
    )
    pair(
        "unthrottled: other processes' CPU (cores): ours / bare",
        lambda r: f"{sat(r).other_cpu:.2f}",
    )
    pair(
        "unthrottled: still in after the window: ours / bare", lambda r: _n(sat(r).connected_after)
    )
    pair("production: agents' interval (s)", lambda r: f"{r.interval_s:g}")
    pair("production: telemetry handled (msg/s): ours / bare", lambda r: _n(prod(r).handled_per_s))
    pair("production: server CPU (cores): ours / bare", lambda r: f"{prod(r).server_cpu:.2f}")
    pair(
        "production: load generator CPU (cores): ours / bare", lambda r: f"{prod(r).agents_cpu:.2f}"
    )
    pair(
        "**server memory per node (kB of RSS)**: ours / bare",
        lambda r: f"{mem(r) / 1000:.1f}",
        f"< {TARGET_BYTES_PER_NODE / 1000:g}",
    )
    pair(
        "server RSS idle → all in (MB): ours / bare",
        lambda r: f"{r.idle_rss_kb / 1024:.0f} → {prod(r).rss_kb / 1024:.0f}",
    )
    v = args.victim_nodes

    def worst(xs: Callable[[ServerRun], list[float]]) -> Callable[[ServerRun], str]:
        def cell(r: ServerRun) -> str:
            prod(r)
            return _worst(xs(r), v)

        return cell

    ours(
        f"**NotReady after SIGKILL of a {v}-node agent (s)**: worst, ours",
        worst(lambda r: r.kill_notready_s),
        f"≤ {TARGET_NOTREADY_S:g}",
    )
    ours(
        f"**NotReady after SIGSTOP of a {v}-node agent (s)**: worst, ours",
        worst(lambda r: r.stop_notready_s),
        f"≤ {TARGET_NOTREADY_S:g}",
    )
    ours("Ready again after SIGCONT (s): worst, ours", worst(lambda r: r.cont_ready_s))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    notes = [n for b, r in pairs for n in (*b.notes, *r.notes)]
    return "\n".join(lines + [""] + [f"- {n}" for n in notes])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", default="1000,10000,20000", help="comma-separated fleet sizes")
    parser.add_argument("--quick", action="store_true", help="1,000 nodes, short windows (<1 min)")
    parser.add_argument("--window", type=float, help="seconds per measurement window")
    parser.add_argument("--agent-procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--victim-nodes", type=int, default=10, help="nodes per victim process")
    parser.add_argument(
        "--shared-connection",
        action="store_true",
        help="one TCP connection per agent process (gRPC's default) instead of one per node",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=400.0,
        help="nodes each agent process starts per second (the join storm's pace)",
    )
    parser.add_argument(
        "--server-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="what-if: override a gRPC server option, for both servers (repeatable)",
    )
    parser.add_argument(
        "--agent-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="what-if: override a gRPC channel option of the agents (repeatable)",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="no pinning in throughput windows (default: server on one core, agents on the rest)",
    )
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="a CPU hog on N cores for the whole run of each server (both alike)",
    )
    parser.add_argument("--workdir", type=Path, help="keep logs and stats here")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so no CPU hog, server or agent outlives the run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    timing = Timing()
    sizes = [int(n) for n in args.nodes.split(",")]
    if args.quick:
        sizes, timing = (
            [1000],
            Timing(settle_s=2.0, window_s=4.0, warm_s=1.5, tries=1, quiet_wait_s=0.0),
        )
    if args.window:
        timing.window_s = args.window

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    hard = raise_fd_limit()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="heartbeats-"))
    pairs: list[tuple[ServerRun, ServerRun]] = []
    started = time.monotonic()
    for asked in sizes:
        nodes = asked
        if not args.shared_connection and asked > hard - FD_RESERVE:
            nodes = hard - FD_RESERVE
        per_proc = math.ceil(nodes / args.agent_procs)
        if not args.shared_connection and per_proc > hard - FD_RESERVE:
            args.agent_procs = math.ceil(nodes / (hard - FD_RESERVE))
        log(f"{nodes} nodes ({args.agent_procs} agent processes), workdir {work}")
        with cpu_hog(args.busy):
            bare = run_server("bare", nodes, work / f"{nodes}-bare", args, timing, log)
        with cpu_hog(args.busy):
            real = run_server("real", nodes, work / f"{nodes}-real", args, timing, log)
        if nodes != asked:
            real.notes.append(
                f"{_n(asked)} nodes asked, {_n(nodes)} run: RLIMIT_NOFILE hard limit is "
                f"{_n(hard)} and the server needs a descriptor per node connection"
            )
        pairs.append((bare, real))
    print(report(pairs, args))
    options = [*args.server_option, *(f"agent {o}" for o in args.agent_option)]
    print(
        f"\n({time.monotonic() - started:.0f} s on {os.cpu_count()} cores shared by server, "
        f"load generator and other processes; unthrottled windows pinned: {args.pin}; "
        f"connection per node: {not args.shared_connection}; "
        f"ramp {args.ramp:g}/s per agent process; CPU hog on {args.busy} cores; gRPC options "
        f"{', '.join(options) if options else 'as shipped'})"
    )
    if args.json:
        args.json.write_text(json.dumps([[asdict(b), asdict(r)] for b, r in pairs], indent=1))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

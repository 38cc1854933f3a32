"""Starting and stopping the processes of a local fleet, so that `tpctl down` leaves nothing.

Each process (the server, the hollow agents, the recorder) starts detached in
a session of its own (`start_new_session`), with its output in
STATE_DIR/logs/NAME.log and its pid in STATE_DIR/NAME.pid. A session is what
makes stopping complete: Ray's processes (GCS, raylet, workers, agents) are
started by the server and stay in its session, and some outlive a server
that is stopped before Ray has settled, so `stop` ends whole sessions: SIGTERM
to each leader, then, after a grace period, SIGKILL to anything still in those
sessions.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
POLL_S = 0.1


class LaunchError(RuntimeError):
    """A process would not start, or said why it stopped; the message points at its log."""


@dataclass(frozen=True)
class Launched:
    name: str
    pid: int
    log: Path


def logs_dir(state_dir: Path) -> Path:
    return state_dir / "logs"


def spawn(
    name: str, args: Sequence[str], state_dir: Path, env: dict[str, str] | None = None
) -> Launched:
    """Starts `args` detached (own session, no terminal), logging to logs/NAME.log."""
    log = logs_dir(state_dir) / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=state_dir,
        )
    (state_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
    return Launched(name, proc.pid, log)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_for_line(launched: Launched, pattern: str, timeout_s: float) -> re.Match[str]:
    """Waits for `pattern` in the process's log; fails early if the process exits."""
    deadline = time.monotonic() + timeout_s
    compiled = re.compile(pattern)
    while True:
        with contextlib.suppress(OSError):
            if match := compiled.search(launched.log.read_text(errors="replace")):
                return match
        if not alive(launched.pid):
            raise LaunchError(
                f"{launched.name} exited during start-up; the end of {launched.log}:\n"
                f"{tail(launched.log)}"
            )
        if time.monotonic() > deadline:
            raise LaunchError(
                f"{launched.name} did not start in {timeout_s:.0f}s; the end of {launched.log}:\n"
                f"{tail(launched.log)}"
            )
        time.sleep(POLL_S)


def session_members(sessions: set[int]) -> list[psutil.Process]:
    """Live processes in any of `sessions` (a detached process's pid is its session id)."""
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if os.getsid(proc.pid) in sessions and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
    return members


def stop(pids: Sequence[int], grace_s: float = 15.0) -> list[int]:
    """Stops the sessions led by `pids`: SIGTERM to each leader, which stops its own
    children (the server shuts Ray down), then SIGKILL to whatever is left in those
    sessions after `grace_s`. Returns the pids that had to be killed."""
    sessions = set(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while session_members(sessions) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    left = session_members(sessions)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=5)
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)  # reap, when this process started it
    return [proc.pid for proc in left]

"""`tpctl up`/`down`/`report` as good citizens: they find a fleet by its state dir, stop on
SIGTERM and SIGHUP as on Ctrl-C, and speak plain lines into a pipe.

Real processes end to end (server, hollow agents, recorder), inline placement
(no Ray, to keep these short), tpctl as a subprocess with its own config file
and XDG_STATE_HOME, stdout and stderr pipes, as under systemd or in CI.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from controlplane.localfleet.observe import FleetNow, ReplicaNow, changes

TPCTL = str(Path(sys.executable).parent / "tpctl")
UP = [
    "--nodes",
    "30",
    "--listen",
    "127.0.0.1:0",
    "--scheduler",
    "inline",
    "--timeout",
    "90s",
    "--clock-speed",
    "360",
    "--clock-start",
    "2026-06-21T10:00:00Z",
]
SPINNER_AND_BARS = set("━⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")


def clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENPLANE_", "TPCTL_"))}
    return env | {
        "TPCTL_CONFIG": str(tmp / "config.yaml"),
        "XDG_STATE_HOME": str(tmp / "xdg"),
        "HOME": str(tmp / "home"),
    }


def tpctl(
    env: dict[str, str], *args: str, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TPCTL, *args], capture_output=True, text=True, env=env, timeout=timeout)


def pids_in(state_dir: Path) -> set[int]:
    record = state_dir / "up.json"
    return set(json.loads(record.read_text())["pids"].values()) if record.exists() else set()


def left_running(sessions: set[int]) -> list[str]:
    left = []
    for proc in psutil.process_iter(["name"]):
        try:
            if os.getsid(proc.pid) in sessions and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {proc.info['name']}")
        except (psutil.Error, ProcessLookupError):
            continue
    return left


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A user's environment; whatever fleet a test leaves is stopped afterwards."""
    env = clean_env(tmp_path)
    yield env
    for record in tmp_path.rglob("up.json"):
        tpctl(env, "down", "--no-report", "--state-dir", str(record.parent), timeout=90)


@pytest.mark.timeout(240)
def test_down_finds_a_fleet_started_with_state_dir_and_refuses_one_it_cannot(
    env: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "fleet-a"
    up = tpctl(env, "up", "--detach", "--state-dir", str(state), *UP)
    assert up.returncode == 0, up.stderr + up.stdout
    # progress into a pipe: plain lines, no spinner or bars redrawn in place
    assert "Control plane listening on 127.0.0.1:" in up.stderr
    assert "Hollow nodes Ready 30/30" in up.stderr
    assert not SPINNER_AND_BARS & set(up.stderr), up.stderr
    sessions = pids_in(state)
    assert sessions

    # told a fleet that is not there: exit 1, naming the dir; the real one keeps running
    wrong = tpctl(env, "down", "--no-report", "--state-dir", str(tmp_path / "nowhere"))
    assert wrong.returncode == 1
    assert f"no local fleet in {tmp_path / 'nowhere'}" in wrong.stderr
    assert "nothing was stopped" in wrong.stderr
    wrong_env = tpctl(env | {"TOKENPLANE_STATE_DIR": str(tmp_path / "nowhere")}, "down")
    assert wrong_env.returncode == 1 and "TOKENPLANE_STATE_DIR" in wrong_env.stderr
    assert len(left_running(sessions)) >= len(sessions)

    # a second fleet while the first is up is refused, naming the first
    second = tpctl(env, "up", "--detach", *UP)
    assert second.returncode == 1
    assert f"already up in {state}" in second.stderr

    # report and down, typed with no flags in another shell, find it through the `local` context
    report = tpctl(env, "report", "-o", "json")
    assert report.returncode == 0 or "no samples yet" in report.stderr, report.stderr
    down = tpctl(env, "down", "--no-report", timeout=90)
    assert down.returncode == 0, down.stderr + down.stdout
    assert "Stopped the local fleet" in down.stdout
    assert left_running(sessions) == []
    assert not (state / "up.json").exists()

    # and now nothing is up: an unnamed down says so and succeeds; a named one fails
    again = tpctl(env, "down")
    assert again.returncode == 0
    assert f"looked in {tmp_path / 'xdg' / 'tokenplane' / 'up'}" in again.stdout
    assert tpctl(env, "down", "--state-dir", str(state)).returncode == 1


class Foreground:
    """`tpctl up` in the foreground with its output in pipes, read as it comes."""

    def __init__(self, env: dict[str, str], state: Path) -> None:
        self.proc = subprocess.Popen(
            [TPCTL, "up", "--state-dir", str(state), *UP],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.out = ""
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.out:
            if self.proc.poll() is not None:
                assert self.proc.stderr is not None
                raise AssertionError(f"tpctl up exited:\n{self.proc.stderr.read()}\n{self.out}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not seen in {timeout_s}s:\n{self.out}")
            try:
                self.out += self._lines.get(timeout=0.2)
            except queue.Empty:
                continue

    def finish(self, timeout_s: float) -> int:
        code = self.proc.wait(timeout_s)
        while not self._lines.empty():
            self.out += self._lines.get()
        time.sleep(0)  # let the pump thread hand over the last lines
        assert self.proc.stdout is not None
        return code


@pytest.mark.timeout(300)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_a_foreground_up_like_ctrl_c(
    env: dict[str, str], tmp_path: Path, signum: int
) -> None:
    state = tmp_path / "state"
    up = Foreground(env, state)
    try:
        up.wait_for("Watching for changes", timeout_s=150)
        sessions = pids_in(state)
        assert sessions
        # the recorder has a sample to report on before the stop
        deadline = time.monotonic() + 30
        while not (state / "samples.jsonl").exists() or not (state / "samples.jsonl").read_text():
            assert time.monotonic() < deadline, "the recorder wrote no sample"
            time.sleep(0.2)
        up.proc.send_signal(signum)
        code = up.finish(timeout_s=90)
    finally:
        if up.proc.poll() is None:
            up.proc.kill()
    assert code == 0, up.out
    assert "DEPLOYMENT" in up.out and "gCO2/Mtok" in up.out  # the report
    assert "Stopped the local fleet" in up.out
    assert left_running(sessions) == []
    assert "currentContext: local" not in (tmp_path / "config.yaml").read_text()


def _replica(name: str, node: str, phase: str = "Running", replaces: str = "") -> ReplicaNow:
    return ReplicaNow(
        deployment="chat-eu",
        name=name,
        node=node,
        city="Paris",
        phase=phase,
        power_kw=1.0,
        rtt_ms=10.0,
        carbon_g_per_kwh=50.0,
        renewable_share=0.5,
        replaces=replaces,
    )


def _now(replicas: list[ReplicaNow], not_ready: list[str]) -> FleetNow:
    return FleetNow(
        wall_s=0.0,
        sim_s=0.0,
        nodes_total=3,
        nodes_ready=3 - len(not_ready),
        it_draw_kw=1.0,
        renewable_used_kw=0.5,
        over_budget=[],
        replicas=replicas,
        not_ready=not_ready,
    )


def test_the_plain_view_says_each_move_and_each_lost_node_once() -> None:
    before = _now([_replica("chat-eu-a", "factory-paris")], [])
    moving = _now(
        [
            _replica("chat-eu-a", "factory-paris"),
            _replica("chat-eu-b", "factory-madrid", "Pending", replaces="chat-eu-a"),
        ],
        ["edge-lyon"],
    )
    moved = _now([_replica("chat-eu-b", "factory-madrid", "Running", replaces="chat-eu-a")], [])
    assert changes(before, moving) == [
        "chat-eu: chat-eu-b placed on factory-madrid (Paris), replacing chat-eu-a, Pending",
        "node edge-lyon NotReady",
    ]
    assert changes(moving, moved) == [
        "chat-eu: chat-eu-b on factory-madrid (Paris) Pending -> Running",
        "chat-eu: chat-eu-a on factory-paris stopped",
        "node edge-lyon Ready",
    ]
    assert changes(moved, moved) == []

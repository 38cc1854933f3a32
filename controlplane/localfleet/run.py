"""What `tpctl up` started and where, kept in STATE_DIR/up.json for `down`, `report` and the
recorder.

The state dir (--state-dir, $TOKENPLANE_STATE_DIR, else $XDG_STATE_HOME/tokenplane/up:
controlplane/cli/fleetdir.py)
holds one local fleet: its store, bootstrap token, fleet and deployment files,
logs, pid files, the recorder's samples and the report. The record names the
processes by pid; the simulated clock is in STATE_DIR/clock.json, which every
process reads (localfleet/clock.py; agents get --clock-file), so that all see the same simulated
time, and which `up` rewrites to set the clock going once the fleet runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from controlplane.localfleet.clock import SharedClock

RECORD = "up.json"
CLOCK_FILE = "clock.json"
SAMPLES = "samples.jsonl"
FLEET_FILE = "fleet.yaml"
DEPLOYMENTS_FILE = "deployments.yaml"
REPORT_PNG = "report.png"
REPORT_JSON = "report.json"
# Everything a run writes in the state dir, removed by the next `up` (a fresh start).
RUN_FILES = (
    RECORD,
    CLOCK_FILE,
    SAMPLES,
    FLEET_FILE,
    DEPLOYMENTS_FILE,
    REPORT_PNG,
    REPORT_JSON,
    "tokenplane.db",
    "tokenplane.db-wal",
    "tokenplane.db-shm",
    "bootstrap-token",
    "server.pid",
    "agents.pid",
    "recorder.pid",
)


@dataclass
class RunRecord:
    server: str
    pids: dict[str, int] = field(default_factory=dict)  # name -> session leader
    config_file: str = ""  # the tpctl config file whose `local` context points here
    previous_context: str = ""  # the current context before `up`, restored by `down`
    nodes: int = 0
    running_after_s: float | None = None  # from the command to all deployments Running

    def save(self, state_dir: Path) -> None:
        path = state_dir / RECORD
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        tmp.replace(path)


def load_record(state_dir: Path) -> RunRecord | None:
    """The record, if there is one; fields this version does not know are ignored."""
    try:
        data = json.loads((state_dir / RECORD).read_text())
    except FileNotFoundError:
        return None
    known = {f.name for f in fields(RunRecord)}
    return RunRecord(**{k: v for k, v in data.items() if k in known})


def clear_run_files(state_dir: Path) -> None:
    for name in RUN_FILES:
        (state_dir / name).unlink(missing_ok=True)


def clock(state_dir: Path) -> SharedClock:
    return SharedClock(state_dir / CLOCK_FILE)

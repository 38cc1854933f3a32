"""The local fleet's simulated clock, shared with its processes through one small file.

`tpctl up` writes STATE_DIR/clock.json and starts hollow agents with
`tokenplane-agent --clock-file` on it; the recorder and `tpctl` read it here. The
file is the whole interface (no code is shared with the agent), so its format is
fixed: `{"start": ISO 8601, "speed": simulated seconds per wall second,
"epochS": wall-clock Unix time at which the clock read `start`, or null while it
stands still}`. tests/localfleet/test_clock.py checks the agent reads what this writes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class ClockSetting:
    """What the clock file holds."""

    start: datetime  # simulated time at the anchor (timezone-aware)
    speed: float = 1.0  # simulated seconds per wall-clock second
    epoch_s: float | None = None  # wall-clock Unix time of the anchor; None: stopped

    def now_s(self, wall_s: float) -> float:
        """Simulated Unix time at wall-clock time `wall_s`."""
        if self.epoch_s is None:
            return self.start.timestamp()
        return self.start.timestamp() + (wall_s - self.epoch_s) * self.speed

    def save(self, path: Path) -> None:
        """Written whole, then renamed: a reader never sees half a clock."""
        data = {"start": self.start.isoformat(), "speed": self.speed, "epochS": self.epoch_s}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> ClockSetting:
        data = json.loads(path.read_text())
        epoch = data.get("epochS")
        return cls(
            datetime.fromisoformat(str(data["start"])),
            float(data["speed"]),
            None if epoch is None else float(epoch),
        )


class SharedClock:
    """The clock file as this process sees it: read again whenever it changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime_ns = path.stat().st_mtime_ns
        self.clock = ClockSetting.load(path)

    def now_s(self) -> float:
        """Simulated Unix time now."""
        try:
            mtime_ns = self._path.stat().st_mtime_ns
            if mtime_ns != self._mtime_ns:
                self.clock, self._mtime_ns = ClockSetting.load(self._path), mtime_ns
        except (OSError, ValueError, KeyError):
            pass  # being rewritten, or gone with the fleet: keep the last setting
        return self.clock.now_s(time.time())

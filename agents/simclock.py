"""A simulated clock, so that a hollow fleet can live through a day in a minute.

Simulated time runs `speed` times as fast as the wall clock from an anchor:
at wall time `epoch_s` it reads `start`. Without an epoch the clock stands
still at `start`, which is how `tpctl up` holds the sun where the user asked
for it while the fleet starts, then lets it go once every deployment runs.
Processes share one clock through a small JSON file (`FileClock`: start,
speed, epochS), re-read when it changes, so the agents, the recorder and the
CLI read the same simulated time without talking to each other. Speed 1 with
the anchor at start-up is plain wall-clock time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

RELOAD_S = 1.0  # how often a FileClock looks at its file, at most


class Clock(Protocol):
    def now_s(self) -> float:
        """Simulated Unix time, seconds; cheap (called on every heartbeat)."""
        ...

    def describe(self) -> str:
        """How the time is obtained, for labels: `wall` or `simulated(...)`."""
        ...


@dataclass(frozen=True)
class SimClock:
    start: datetime  # simulated time at the anchor (timezone-aware)
    speed: float = 1.0  # simulated seconds per wall-clock second
    epoch_s: float | None = None  # wall-clock Unix time of the anchor; None: stopped at start
    wall: Callable[[], float] = time.time

    @classmethod
    def starting_now(cls, start: datetime | None = None, speed: float = 1.0) -> SimClock:
        """Running from this instant; `start` defaults to now (then speed 1 is the wall clock)."""
        epoch_s = time.time()
        return cls(start or datetime.fromtimestamp(epoch_s, UTC), speed, epoch_s)

    def now_s(self) -> float:
        """Simulated Unix time, seconds."""
        if self.epoch_s is None:
            return self.start.timestamp()
        return self.start.timestamp() + (self.wall() - self.epoch_s) * self.speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_s(), UTC)

    def describe(self) -> str:
        """For an `energy_source` label: how the time the figures are for was obtained."""
        if (
            self.epoch_s is not None
            and self.speed == 1.0
            and abs(self.start.timestamp() - self.epoch_s) <= 1.0
        ):
            return "wall"
        return f"simulated({self.speed:g}x from {self.start.isoformat(timespec='minutes')})"

    def to_json(self) -> dict[str, object]:
        return {"start": self.start.isoformat(), "speed": self.speed, "epochS": self.epoch_s}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimClock:
        epoch = data.get("epochS")
        return cls(
            datetime.fromisoformat(str(data["start"])),
            float(data["speed"]),
            None if epoch is None else float(epoch),
        )

    def save(self, path: Path) -> None:
        """Written whole, then renamed: a reader never sees half a clock."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json()) + "\n")
        os.replace(tmp, path)


class FileClock:
    """The clock in a JSON file (SimClock.save), looked at again at most every RELOAD_S."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime_ns = -1
        self._checked = float("-inf")
        self.clock = self._load()

    def _load(self) -> SimClock:
        stat = self._path.stat()
        self._mtime_ns = stat.st_mtime_ns
        return SimClock.from_json(json.loads(self._path.read_text()))

    def now_s(self) -> float:
        now = time.monotonic()
        if now - self._checked >= RELOAD_S:
            self._checked = now
            try:
                if self._path.stat().st_mtime_ns != self._mtime_ns:
                    self.clock = self._load()
            except (OSError, ValueError, KeyError):
                pass  # being rewritten, or gone with the fleet: keep the last clock
        return self.clock.now_s()

    def describe(self) -> str:
        return self.clock.describe()

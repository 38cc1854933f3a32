"""The clock file is the whole interface between `tpctl up` and its hollow agents."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from agents.simclock import FileClock
from controlplane.localfleet.clock import ClockSetting, SharedClock

START = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


def test_the_agent_reads_the_time_tpctl_up_writes(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    ClockSetting(START, 3600).save(path)
    assert FileClock(path).now_s() == START.timestamp(), "standing still at its start"
    setting = ClockSetting(START, 3600, epoch_s=1_000_000.0)
    setting.save(path)
    agent = FileClock(path).clock
    wall_s = 1_000_010.0
    assert agent.start == START and agent.speed == 3600 and agent.epoch_s == 1_000_000.0
    assert setting.now_s(wall_s) == START.timestamp() + 36_000  # ten hours in ten seconds


def test_a_rewritten_clock_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    ClockSetting(START, 60).save(path)
    clock = SharedClock(path)
    assert clock.now_s() == START.timestamp()
    later = datetime(2026, 6, 22, tzinfo=UTC)
    ClockSetting(later, 60).save(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new mtime
    assert clock.now_s() == later.timestamp() and clock.clock.speed == 60

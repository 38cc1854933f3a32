"""Suspecting itself: when much of the fleet goes silent at once, replace nothing.

Pure functions and the real table; the server-level behaviour (a restarted
server replaces no replica while its fleet returns) is in
benchmarks/restart_storm.py and tests/server/test_sessions.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.inventory import InventoryTable, liveness
from controlplane.resources import load_manifests
from tests.support.processes import write_fleet
from tokenplane.v1 import agent_pb2


def _beat() -> agent_pb2.Heartbeat:
    return agent_pb2.Heartbeat(it_draw_kw=1.0)


@pytest.mark.parametrize(
    ("silent", "total", "expected"),
    [
        (0, 10, False),
        (5, 10, False),  # half: below Kubernetes' 55 %
        (6, 10, True),
        (2, 2, False),  # a tiny fleet losing everything: more than two must be silent
        (3, 3, True),
        (5_500, 10_000, True),
        (10, 10_000, False),  # one agent process of ten nodes killed: theirs, not ours
    ],
)
def test_a_large_share_silent_at_once_is_a_disruption(
    silent: int, total: int, expected: bool
) -> None:
    assert liveness.disrupted(silent, total) is expected


def test_suspicion_holds_for_the_agents_reconnect_window_after_the_disruption() -> None:
    assert liveness.suspect_self(now_s=100.0, last_disrupted_s=100.0, hold_s=30.0)
    assert liveness.suspect_self(now_s=129.9, last_disrupted_s=100.0, hold_s=30.0)
    assert not liveness.suspect_self(now_s=130.0, last_disrupted_s=100.0, hold_s=30.0)
    assert not liveness.suspect_self(now_s=0.0, last_disrupted_s=-float("inf"), hold_s=30.0)


def test_reconnect_window_grows_with_the_fleet_up_to_the_agents_cap() -> None:
    def window(n: int) -> float:
        return liveness.reconnect_window_s(
            n,
            max_reconnect_rate_per_s=liveness.RECONNECT_RATE_PER_S,
            min_s=liveness.RECONNECT_MIN_WINDOW_S,
            max_s=liveness.RECONNECT_CAP_S,
        )

    assert window(1) == liveness.RECONNECT_MIN_WINDOW_S
    assert window(100) == pytest.approx(100 / liveness.RECONNECT_RATE_PER_S)
    assert window(1_000) == window(20_000) == liveness.RECONNECT_CAP_S


def _connected_table(tmp_path: Path, n: int) -> InventoryTable:
    table = InventoryTable(interval_s=1.0)
    for node in load_manifests(write_fleet(tmp_path / "f.yaml", n).read_text()):
        table.connect(table.upsert(node), now_s=0.0)  # type: ignore[arg-type]
    return table


def test_table_suspects_itself_when_most_streams_drop_and_for_the_window_after(
    tmp_path: Path,
) -> None:
    table = _connected_table(tmp_path, 10)
    assert not table.suspect_self(1.0)
    table.disconnect(table.slot("node-0"))  # one node dies: its replicas are replaced
    assert not table.suspect_self(2.0)
    for i in range(1, 6):
        table.disconnect(table.slot(f"node-{i}"))
    assert table.suspect_self(3.0), "6 of 10 silent at once"
    for i in range(1, 6):
        table.connect(table.slot(f"node-{i}"), now_s=4.0)
    assert table.suspect_self(3.0 + liveness.RECONNECT_CAP_S - 1), "agents still on their way"
    assert not table.suspect_self(3.0 + liveness.RECONNECT_CAP_S)


def test_a_restarted_server_suspects_itself_until_its_fleet_is_back(tmp_path: Path) -> None:
    """Loaded from the store, every node is NotReady until its agent reconnects."""
    table = InventoryTable(interval_s=1.0)
    for node in load_manifests(write_fleet(tmp_path / "f.yaml", 10).read_text()):
        table.upsert(node)  # type: ignore[arg-type]
    assert table.suspect_self(0.0)
    assert not InventoryTable(interval_s=1.0).suspect_self(0.0), "an empty fleet is not silent"


def test_a_stall_past_the_longest_deadline_is_held_as_ours_not_theirs(tmp_path: Path) -> None:
    """Most of the fleet silent in one sweep: suspect ourselves, flap no one."""
    table = _connected_table(tmp_path, 200)
    assert table.expire(now_s=11.0) == []  # 11 s of silence from all: past the longest deadline
    assert table.suspect_self(11.0)
    assert table.ready[:200].all()


def test_a_small_fleet_keeps_the_plain_deadline(tmp_path: Path) -> None:
    table = _connected_table(tmp_path, 10)
    assert len(table.expire(now_s=11.0)) == 10
    assert table.suspect_self(11.0), "and all of it silent: replace nothing"


def test_deadline_is_the_detection_target_while_punctual_and_stretches_with_lateness() -> None:
    assert liveness.deadline_s(1.0, lag_s=0.0) == 3.0  # punctual small fleets: three intervals
    assert liveness.deadline_s(2.5, lag_s=0.0) == liveness.DETECT_TARGET_S  # 10k nodes
    assert liveness.deadline_s(2.5, lag_s=1.0) == 4.5
    assert liveness.deadline_s(1.0, lag_s=2.0) == 5.0  # a busy machine at a 1 s interval
    assert liveness.deadline_s(2.5, lag_s=60.0) == liveness.MAX_DEADLINE_S
    assert liveness.deadline_s(5.0, lag_s=60.0) == 3 * 5.0
    # A calm fleet of 20k (5 s apart): a heartbeat a little late is not a missed one.
    assert liveness.deadline_s(5.0, lag_s=0.0) == 5.0 + liveness.LATE_MARGIN_S
    assert liveness.decayed(2.0, elapsed_s=liveness.LAG_HALF_LIFE_S) == 1.0


def test_a_busy_server_stretches_the_deadline_and_flaps_no_one(tmp_path: Path) -> None:
    """Every heartbeat queued 1.2 s behind a busy loop: that is our lag, not 200 deaths."""
    table = _connected_table(tmp_path, 200)
    table.set_intervals(2.5, now_s=0.0)  # a 10k-node fleet's interval
    assert table.expire(now_s=2.9) == []
    assert table.expire(now_s=3.7) == [], "silent 3.7 s, past the punctual 3 s deadline"
    assert table.deadline_s == pytest.approx(2.5 + 2 * 1.2, abs=0.1)
    for now_s in (3.7, 300.0):  # then calm for a long while: back to the detection target
        for i in range(200):
            table.heartbeat(table.slot(f"node-{i}"), _beat(), now_s=now_s)
    assert table.expire(now_s=300.5) == []
    assert table.deadline_s == pytest.approx(liveness.DETECT_TARGET_S)


def test_a_few_frozen_agents_among_punctual_ones_are_found_at_the_target(
    tmp_path: Path,
) -> None:
    table = _connected_table(tmp_path, 200)
    table.set_intervals(2.5, now_s=0.0)
    for i in range(2, 200):
        table.heartbeat(table.slot(f"node-{i}"), _beat(), now_s=2.5)
    expired = table.expire(now_s=3.1)
    assert {t.name for t in expired} == {"node-0", "node-1"}
    assert table.deadline_s == liveness.DETECT_TARGET_S


def test_in_a_join_storm_heartbeats_yield_half_their_budget_and_are_allowed_more() -> None:
    calm = liveness.heartbeat_interval_s(10_000, base_s=1.0, max_rate_per_s=4000)
    storm = liveness.heartbeat_interval_s(10_000, base_s=1.0, max_rate_per_s=4000, joining=True)
    assert (calm, storm) == (2.5, 2.5 / liveness.JOIN_STORM_SHARE)
    assert liveness.deadline_s(storm, lag_s=0.0, joining=True) == storm * (
        1 + liveness.JOIN_STORM_SLACK
    )
    # A small fleet: the base interval and the detection target, storm or not.
    assert liveness.heartbeat_interval_s(50, base_s=1.0, max_rate_per_s=4000, joining=True) == 1.0
    assert liveness.deadline_s(1.0, lag_s=0.0, joining=True) == liveness.DETECT_TARGET_S


def test_a_shorter_interval_judges_heartbeats_only_once_every_agent_has_heard_it(
    tmp_path: Path,
) -> None:
    """After a storm the interval drops from 5 s to 2.5 s; agents still send their next
    heartbeat on the 5 s schedule. None flaps and none counts as late until one old
    interval has passed; then the calm deadline finds a frozen agent again."""
    table = _connected_table(tmp_path, 200)
    table.set_intervals(5.0, now_s=0.0)
    table.joining = True
    for i in range(200):
        table.heartbeat(table.slot(f"node-{i}"), _beat(), now_s=0.0)
    table.joining = False
    table.set_intervals(2.5, now_s=0.5)
    assert table.expire(now_s=5.2) == [], "silent 5.2 s on the 5 s schedule: not late"
    assert table.lag_s == pytest.approx(0.2)  # late by the old schedule, not by 2.7 s
    for i in range(1, 200):  # all but node-0, which froze
        table.heartbeat(table.slot(f"node-{i}"), _beat(), now_s=5.2)
    assert table.expire(now_s=5.9) == []  # node-0 is due by the old schedule's deadline
    expired = table.expire(now_s=6.1)  # one old interval after the change: the calm deadline
    assert [t.name for t in expired] == ["node-0"]
    assert table.deadline_s == liveness.DETECT_TARGET_S

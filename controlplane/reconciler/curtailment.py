"""Curtailment events, pure: when each starts and ends, the budgets they impose, what they shed.

A Curtailment lowers one site's power budget for a while. While it is Active
the site's effective budget is the lowest of its own and every active event's,
so the scheduler's power-headroom filter keeps new replicas off it and
re-planning's forced moves (scheduler/replan.py) take replicas away,
make-before-break, until the draw fits. When the event ends its budget simply
stops applying: the headroom returns and re-planning may move load back.

Times are seconds of the control plane's event clock: wall time, or the local
fleet's simulated time (`--clock-file`), so that "4h" is four simulated hours in
`tpctl up`. Energy shed is the site's baseline draw (at the start) less its
draw, integrated over the passes that saw it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.resources import Curtailment, CurtailmentStatus

STARTED = "CurtailmentStarted"
ENDED = "CurtailmentEnded"
SHED = "CurtailmentShed"


@dataclass(frozen=True, slots=True)
class Notice:
    """An event to record about a curtailment (and its node)."""

    reason: str
    message: str


def rfc3339(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def ends_at_s(curtailment: Curtailment) -> float | None:
    """When an event that has started ends, on the event clock."""
    start = curtailment.status.start_time
    return _seconds(start) + curtailment.spec.duration_seconds if start else None


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g}h"


def step(
    curtailment: Curtailment,
    *,
    now_s: float,
    draw_kw: float | None,
    budget_kw: float | None,
    since_s: float | None,
) -> tuple[CurtailmentStatus, list[Notice]]:
    """The event's status after one pass, and what to record.

    `draw_kw` and `budget_kw` are the site's live IT draw and own budget (None:
    the node is unknown); `since_s` is when the previous pass saw the event
    (None: this process has not seen it yet, so no energy is counted for the gap).
    """
    spec, status = curtailment.spec, curtailment.status
    if status.phase == "Ended":
        return status, []
    if draw_kw is None or budget_kw is None:
        message = f"node {spec.node_name} is not in the inventory"
        return replace_status(status, message=message), []
    if status.phase == "Pending":
        started = replace_status(
            status,
            phase="Active",
            start_time=rfc3339(now_s),
            baseline_kw=draw_kw,
            draw_kw=draw_kw,
            time_to_shed_seconds=0.0 if draw_kw <= spec.budget_kw else None,
            message="",
        )
        by = f" by {spec.requested_by}" if spec.requested_by else ""
        why = f": {spec.reason}" if spec.reason else ""
        return started, [
            Notice(
                STARTED,
                f"budget of {spec.node_name} {budget_kw:.0f} -> {spec.budget_kw:.0f} kW for "
                f"{_hours(spec.duration_seconds)}{by}{why}; drawing {draw_kw:.0f} kW",
            )
        ]
    notices: list[Notice] = []
    start_s = _seconds(status.start_time)
    end_s = start_s + spec.duration_seconds
    until_s = min(now_s, end_s)  # a pass late after the end counts nothing past it
    shed_kwh = status.energy_shed_kwh
    if since_s is not None and until_s > since_s:
        shed_kwh += max(0.0, status.baseline_kw - draw_kw) * (until_s - since_s) / 3600
    took = status.time_to_shed_seconds
    if took is None and draw_kw <= spec.budget_kw:
        took = max(0.0, now_s - start_s)
        notices.append(
            Notice(
                SHED,
                f"{spec.node_name} draws {draw_kw:.0f} kW, within {spec.budget_kw:.0f} kW, "
                f"{took:.0f} s after the start ({1 - draw_kw / status.baseline_kw:.0%} shed)"
                if status.baseline_kw
                else f"{spec.node_name} draws {draw_kw:.0f} kW",
            )
        )
    now = replace_status(
        status, draw_kw=draw_kw, energy_shed_kwh=shed_kwh, time_to_shed_seconds=took
    )
    if now_s >= end_s:
        ended = replace_status(now, phase="Ended", end_time=rfc3339(end_s))
        notices.append(
            Notice(
                ENDED,
                f"budget of {spec.node_name} back to {budget_kw:.0f} kW after "
                f"{_hours(spec.duration_seconds)}; {shed_kwh:.0f} kWh shed",
            )
        )
        return ended, notices
    return now, notices


def replace_status(status: CurtailmentStatus, **changes: object) -> CurtailmentStatus:
    return status.model_copy(update=changes)


def worth_writing(before: CurtailmentStatus, after: CurtailmentStatus) -> bool:
    """Whether a status changed enough to write: phases and times always, figures when they
    move by a kW or a kWh, so that an Active event costs a write now and then, not every pass."""
    return (
        before.phase != after.phase
        or before.message != after.message
        or before.time_to_shed_seconds != after.time_to_shed_seconds
        or abs(before.draw_kw - after.draw_kw) >= 1.0
        or abs(before.energy_shed_kwh - after.energy_shed_kwh) >= 1.0
    )


def budgets(curtailments: Iterable[Curtailment]) -> dict[str, float]:
    """Node -> the lowest budget of its active events."""
    lowest: dict[str, float] = {}
    for c in curtailments:
        if c.status.phase == "Active":
            node = c.spec.node_name
            lowest[node] = min(lowest.get(node, c.spec.budget_kw), c.spec.budget_kw)
    return lowest


def with_budgets(snapshot: FleetSnapshot, lowered_kw: Mapping[str, float]) -> FleetSnapshot:
    """The snapshot with each curtailed site's budget at most its event's."""
    if not lowered_kw:
        return snapshot
    budget_kw = snapshot.budget_kw.copy()
    for row in np.flatnonzero(np.isin(snapshot.names, list(lowered_kw))):
        budget_kw[row] = min(budget_kw[row], lowered_kw[str(snapshot.names[row])])
    return replace(snapshot, budget_kw=budget_kw)


FEED_MAX_SECONDS = 24 * 3600.0  # a feed's event lasts while its signal does, at most a day
FEED_REASON = "demand-response signal from the site's energy feed"


def feed_requester(node: str) -> str:
    return f"feed:{node}"


@dataclass(frozen=True, slots=True)
class FeedChanges:
    """What the feeds' demand-response signals change: events to make, re-budget or end."""

    create: list[tuple[str, float]]  # (node, budget kW)
    rebudget: list[tuple[str, float]]  # (curtailment, budget kW)
    end: list[tuple[str, float]]  # (curtailment, its duration so far, s): ends on this pass
    drop: list[str]  # curtailments that never started and whose signal is gone


def follow_signals(
    events: Iterable[Curtailment], signals_kw: Mapping[str, float], now_s: float
) -> FeedChanges:
    """A signal with no open feed event opens one; a changed signal re-budgets it; an open
    feed event whose signal is gone ends now (its duration becomes how long it lasted)."""
    open_events = {
        c.spec.node_name: c
        for c in events
        if c.spec.requested_by == feed_requester(c.spec.node_name) and c.status.phase != "Ended"
    }
    changes = FeedChanges([], [], [], [])
    for node, kw in sorted(signals_kw.items()):
        event = open_events.get(node)
        if event is None:
            changes.create.append((node, kw))
        elif event.spec.budget_kw != kw:
            changes.rebudget.append((event.name, kw))
    for node, event in sorted(open_events.items()):
        if node in signals_kw:
            continue
        if event.status.phase == "Pending":
            changes.drop.append(event.name)
        else:
            lasted_s = now_s - _seconds(event.status.start_time)
            lasted_s = min(event.spec.duration_seconds, max(1e-3, lasted_s))
            changes.end.append((event.name, lasted_s))
    return changes

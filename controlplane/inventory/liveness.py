"""Liveness arithmetic: pure functions over the inventory's columns.

A node is alive while its stream is open and its heartbeats are fresh. A
closed stream (including one that gRPC's keepalive pings found dead, inside the
C core) flips it at once; the heartbeat deadline catches an agent whose
process hangs while its connection stays up.

When a large share of the fleet goes silent at once, the control plane
suspects itself rather than the nodes (as Kubernetes' node-lifecycle
controller does): nodes are still shown NotReady, but no replica is replaced
until the fleet is back and its agents had their reconnect window to return.
"""

from __future__ import annotations

import numpy as np

from controlplane.inventory.snapshot import BoolArray, FloatArray

MISSED_HEARTBEATS = 3
# A frozen agent (its process stopped, its TCP connection open) is found within this
# long while heartbeats are punctual; the server's own HTTP/2 pings are only a slow
# backstop, because their fixed timeout killed healthy streams when this machine was
# busy (benchmarks/heartbeats.py --busy 1).
DETECT_TARGET_S = 3.0
LAG_HEADROOM = 2.0  # the deadline allows twice the worst recent lateness
# ... and never less than this past one interval: from 12,000 nodes (intervals over 3 s)
# a calm fleet's deadline was the interval itself, so a heartbeat a little late flapped.
LATE_MARGIN_S = 0.5
LAG_HALF_LIFE_S = 30.0
# Measured: with one core taken by another process, 10k joining hollow agents' heartbeats
# ran over 3 s late at a 1 s interval (benchmarks/heartbeats.py --busy 1).
MAX_DEADLINE_S = 10.0
LAG_QUANTILE = 0.9
LAG_SLOWDOWN = 2.0  # heartbeats this many times their lateness apart, while they run late
MAX_SLOWDOWN_INTERVAL_S = 5.0  # the slowest a late server asks for (the deadline: 15 s)
LAG_MIN_NODES = 20
# While Joins wait their turn, heartbeats get this share of the telemetry budget: the
# rest goes to the Joins. Measured (6,000 nodes joining a quiet server, 800 a second):
# the join rate fell from 160 to 60 a second as the nodes already in heartbeated at the
# full budget, and the fleet was all in after 47 s at half the budget, 55-71 s at all of it.
JOIN_STORM_SHARE = 0.5
# ... and their deadline allows this much of an interval more: a load generator or an
# agent host stalls in a storm too, and frozen agents may be found later meanwhile.
JOIN_STORM_SLACK = 0.5
MASS_SILENCE_SHARE = 0.1  # of live nodes going silent in one sweep
UNHEALTHY_SHARE = 0.55  # Kubernetes' --unhealthy-zone-threshold default
MIN_SILENT_NODES = 3  # Kubernetes: a zone is disrupted only with more than two NotReady
# The agents' reconnect backoff cap (agents/connection.py, docs/agent.md): after a
# disruption, every agent has tried again within this long.
RECONNECT_CAP_S = 30.0
RECONNECT_MIN_WINDOW_S = 1.0  # the agents' own first window (Backoff.initial_s)
# A fleet that lost its server should come back at about this many connects a
# second on average: from ~1,000 nodes on, agents use the whole 30 s window, which
# keeps the peak near nodes / 10 a second (benchmarks/restart_storm.py).
RECONNECT_RATE_PER_S = 33.0


def expired(
    now_s: float,
    last_heartbeat_s: FloatArray,
    interval_s: FloatArray,
    alive: BoolArray,
    misses: int = MISSED_HEARTBEATS,
) -> BoolArray:
    """Rows that are alive but have missed `misses` heartbeat intervals."""
    return alive & (now_s - last_heartbeat_s > misses * interval_s)


def deadline_s(interval_s: float, lag_s: float, *, joining: bool = False) -> float:
    """How long after its last heartbeat a node still counts as alive.

    Sized from the measured lateness of heartbeats (`lag_s`, a decaying maximum
    kept by the table): never below DETECT_TARGET_S, so that a frozen agent is
    found that fast while heartbeats are punctual, and never above MAX_DEADLINE_S
    (or MISSED_HEARTBEATS intervals if longer). When the machine is busy and heartbeats queue
    up, the deadline stretches with them instead of flapping healthy nodes; and
    while Joins wait (`joining`) it allows JOIN_STORM_SLACK of an interval more.
    """
    longest_s = max(MISSED_HEARTBEATS * interval_s, MAX_DEADLINE_S)
    storm_s = JOIN_STORM_SLACK * interval_s if joining else 0.0
    late_s = max(LATE_MARGIN_S, LAG_HEADROOM * lag_s, storm_s)
    return min(longest_s, max(DETECT_TARGET_S, interval_s + late_s))


def fleet_lag_s(silence_s: FloatArray, interval_s: float) -> float:
    """How late the fleet's heartbeats run now: the 90th percentile of live nodes' silence,
    less one interval.

    A percentile, so that the few nodes that are really gone (a frozen agent, a
    dead link) do not stretch everyone's deadline, while a stall of this
    process or of the network, which delays most heartbeats at once, does.
    """
    if silence_s.size < LAG_MIN_NODES:
        return 0.0  # too few to tell a late fleet from one silent node
    return max(0.0, float(np.quantile(silence_s, LAG_QUANTILE)) - interval_s)


def late(
    now_s: float, last_heartbeat_s: FloatArray, deadline_s: float, alive: BoolArray
) -> BoolArray:
    """Rows that are alive but silent for longer than `deadline_s`."""
    return alive & (now_s - last_heartbeat_s > deadline_s)


def decayed(lag_s: float, elapsed_s: float, half_life_s: float = LAG_HALF_LIFE_S) -> float:
    """The measured lateness, forgotten with a half-life: the deadline shrinks back once calm."""
    return float(lag_s * 0.5 ** (max(0.0, elapsed_s) / half_life_s))


def heartbeat_interval_s(
    n_nodes: int,
    *,
    base_s: float,
    max_rate_per_s: float,
    lag_s: float = 0.0,
    joining: bool = False,
) -> float:
    """The interval that keeps the fleet's telemetry under what this server can read.

    Like Nomad's heartbeat TTL, it grows with the fleet (`max_rate_per_s`
    messages a second), never below `base_s`. And it grows when heartbeats are
    read late (`lag_s`, the fleet's measured lateness): a server that is
    behind, because its machine is busy or a fleet is joining, tells its agents
    to slow down (LAG_SLOWDOWN intervals' worth of lag, up to
    MAX_SLOWDOWN_INTERVAL_S) instead of falling further behind until healthy
    nodes flap; frozen agents are then found later, not healthy ones lost. While
    Joins wait their turn (`joining`), heartbeats get JOIN_STORM_SHARE of the budget.
    """
    by_lag_s = min(MAX_SLOWDOWN_INTERVAL_S, LAG_SLOWDOWN * lag_s)
    rate_per_s = max_rate_per_s * (JOIN_STORM_SHARE if joining else 1.0)
    return max(base_s, n_nodes / rate_per_s, by_lag_s)


def reconnect_window_s(
    n_nodes: int, *, max_reconnect_rate_per_s: float, min_s: float, max_s: float
) -> float:
    """The window over which agents spread their first reconnect after losing the server.

    Agents draw a uniformly random delay in it (full jitter), so a fleet that
    lost its server comes back at about `n_nodes / window` connects a second;
    the window grows with the fleet until it reaches the agents' backoff cap.
    """
    return min(max_s, max(min_s, n_nodes / max_reconnect_rate_per_s))


def disrupted(
    silent: int,
    total: int,
    *,
    share: float = UNHEALTHY_SHARE,
    min_silent: int = MIN_SILENT_NODES,
) -> bool:
    """So many nodes are silent at once that the fault is likelier ours than theirs.

    Kubernetes' node-lifecycle controller reasons the same way: when at least
    `--unhealthy-zone-threshold` (55 %) of the nodes it watches are NotReady,
    and more than two, it stops evicting, because a network split or a stalled
    control plane looks exactly like a mass death, and evicting would only
    duplicate workloads that still run.
    """
    return silent >= min_silent and silent >= share * total


def mass_silence(stale: int, live: int, *, share: float = MASS_SILENCE_SHARE) -> bool:
    """Whether this many live nodes falling silent in one sweep is our stall, not their deaths.

    Measured: on a busy machine the load generator of a 19,800-node join storm
    stalled past the longest deadline and 43 % of the live nodes went late in
    the same quarter second. Nodes really gone are still found: a killed agent
    closes its connection, and the server's HTTP/2 pings close the connection
    of one that stays silent (within 30 s). Small fleets (< LAG_MIN_NODES) keep
    the plain deadline.
    """
    return live >= LAG_MIN_NODES and stale >= MIN_SILENT_NODES and stale >= share * live


def suspect_self(now_s: float, last_disrupted_s: float, hold_s: float) -> bool:
    """Whether the control plane distrusts its own view of liveness at `now_s`.

    It does while the fleet is disrupted and for `hold_s` after (the agents'
    reconnect window): agents that lost a stalled or restarted server come back
    spread over that window, and their replicas are still running meanwhile.
    """
    return now_s - last_disrupted_s < hold_s


def interval_changed(old_s: float, new_s: float, tolerance: float = 0.2) -> bool:
    """Whether a new interval differs enough to tell every agent (avoids a broadcast storm)."""
    return bool(abs(new_s - old_s) > tolerance * old_s)


__all__ = [
    "DETECT_TARGET_S",
    "JOIN_STORM_SHARE",
    "JOIN_STORM_SLACK",
    "LAG_HALF_LIFE_S",
    "LAG_HEADROOM",
    "LAG_MIN_NODES",
    "LAG_QUANTILE",
    "LAG_SLOWDOWN",
    "LATE_MARGIN_S",
    "MASS_SILENCE_SHARE",
    "MAX_DEADLINE_S",
    "MAX_SLOWDOWN_INTERVAL_S",
    "MIN_SILENT_NODES",
    "MISSED_HEARTBEATS",
    "RECONNECT_CAP_S",
    "RECONNECT_MIN_WINDOW_S",
    "RECONNECT_RATE_PER_S",
    "UNHEALTHY_SHARE",
    "deadline_s",
    "decayed",
    "disrupted",
    "expired",
    "fleet_lag_s",
    "heartbeat_interval_s",
    "interval_changed",
    "late",
    "mass_silence",
    "reconnect_window_s",
    "suspect_self",
]

"""Liveness arithmetic: pure functions over the inventory's columns.

A node is alive while its stream is open and its heartbeats are fresh. A
closed stream (including one that gRPC's keepalive pings found dead, inside the
C core) flips it at once; the heartbeat deadline catches an agent whose
process hangs while its connection stays up.
"""

from __future__ import annotations

from controlplane.inventory.snapshot import BoolArray, FloatArray

MISSED_HEARTBEATS = 3


def expired(
    now_s: float,
    last_heartbeat_s: FloatArray,
    interval_s: FloatArray,
    alive: BoolArray,
    misses: int = MISSED_HEARTBEATS,
) -> BoolArray:
    """Rows that are alive but have missed `misses` heartbeat intervals."""
    return alive & (now_s - last_heartbeat_s > misses * interval_s)


def heartbeat_interval_s(n_nodes: int, *, base_s: float, max_rate_per_s: float) -> float:
    """The interval that keeps the fleet's telemetry under `max_rate_per_s` messages a second.

    Like Nomad's heartbeat TTL, it grows with the fleet, never below `base_s`;
    liveness does not depend on it, because the stream and its keepalive pings
    carry liveness.
    """
    return max(base_s, n_nodes / max_rate_per_s)


def interval_changed(old_s: float, new_s: float, tolerance: float = 0.2) -> bool:
    """Whether a new interval differs enough to tell every agent (avoids a broadcast storm)."""
    return bool(abs(new_s - old_s) > tolerance * old_s)


__all__ = ["MISSED_HEARTBEATS", "expired", "heartbeat_interval_s", "interval_changed"]

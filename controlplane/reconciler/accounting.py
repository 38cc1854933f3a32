"""Capacity the control plane has promised but the telemetry does not show yet.

Heartbeats tell what a node uses now; a replica just bound to it draws nothing
until its agent starts it. Like the Kubernetes scheduler's assumed pods, the
reconciler charges such replicas against the snapshot before placing more, so
two passes can never promise the same GPU or kilowatt twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.resources.wellknown import NOT_YET_IN_TELEMETRY, ReplicaPhase


@dataclass(frozen=True, slots=True)
class Bound:
    node: str
    phase: ReplicaPhase
    gpu_model: str
    gpus: int
    power_kw: float


def charge(snapshot: FleetSnapshot, bound: Iterable[Bound]) -> FleetSnapshot:
    """The snapshot with bound replicas' GPUs taken and pending replicas' power added.

    GPUs: free is at most total minus every bound replica's GPUs (bookkeeping
    never trusts a heartbeat that has not caught up). Power: replicas not yet
    running add their power to the reported draw; running ones are in it.
    """
    rows = {str(name): i for i, name in enumerate(snapshot.names)}
    booked = np.zeros_like(snapshot.gpus_total)
    pending_kw = np.zeros_like(snapshot.it_draw_kw)
    for b in bound:
        row = rows.get(b.node)
        if row is None:
            continue
        column = snapshot.gpu_column(b.gpu_model) if b.gpu_model else None
        if column is not None:
            booked[row, column] += b.gpus
        if b.phase in NOT_YET_IN_TELEMETRY:
            pending_kw[row] += b.power_kw
    return dataclasses.replace(
        snapshot,
        gpus_free=np.minimum(snapshot.gpus_free, np.maximum(snapshot.gpus_total - booked, 0)),
        it_draw_kw=snapshot.it_draw_kw + pending_kw,
    )

"""Routes: which running replica serves each demand point, the table a gateway routes by.

Each demand point goes to its nearest Running replica (the same rule placement
plans with), its traffic shared equally among the replicas on that node.
Only Running replicas get routes, so during a move the old replica keeps its
users until the new one runs: make-before-break for traffic, not only for
capacity. Attainment is the share of demand whose route is within the SLO.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from controlplane.scheduler.fleetindex import FleetIndex
from controlplane.scheduler.pipeline import Reach, demand_weights, nearest_replica
from controlplane.scheduler.request import PlacementRequest


@dataclass(frozen=True, slots=True)
class RouteAssignment:
    demand: str
    replica: str
    node: str
    share: float  # of the demand point's traffic
    rtt_ms: float
    measured: bool
    within_slo: bool


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[RouteAssignment, ...]
    attainment: float | None  # share of demand within the SLO; None without demand


def assign_routes(
    index: FleetIndex, request: PlacementRequest, running: Sequence[tuple[str, str]]
) -> RouteTable:
    """Routes from each demand point to the `running` (replica name, node name) that serve it.

    Replicas on nodes missing from the snapshot get no traffic. Raises
    geo.UnknownRegionError if a demand region cannot be located.
    """
    if not request.demand:
        return RouteTable((), None)
    located = [(name, node, index.row(node)) for name, node in running]
    live = [(name, node, row) for name, node, row in located if row is not None]
    if not live:
        return RouteTable((), 0.0)
    rows = np.unique([row for _, _, row in live])
    matrix = index.rtt_rows(request.demand, rows)
    reach = Reach(rows, matrix.rtt_ms, matrix.measured)
    nearest = nearest_replica(reach, rows.tolist())
    on_node = Counter(row for _, _, row in live)
    slo = request.latency_slo_ms
    weight = demand_weights(request)
    routes = []
    within = np.zeros(len(request.demand), dtype=np.bool_)
    for d, point in enumerate(request.demand):
        row = int(nearest[d])
        at = int(reach.at([row])[0])
        rtt = float(reach.rtt_ms[at, d])
        within[d] = slo is None or rtt <= slo
        for name, node, r in sorted(live):
            if r == row:
                routes.append(
                    RouteAssignment(
                        demand=point.name,
                        replica=name,
                        node=node,
                        share=1.0 / on_node[row],
                        rtt_ms=rtt,
                        measured=bool(reach.measured[at, d]),
                        within_slo=bool(within[d]),
                    )
                )
    return RouteTable(tuple(routes), float(weight @ within))

"""Physical figures the placement objective reads, one module each.

`energy` gives the cost of one more replica per hour (gCO2/h, or $/h), from the
site's marginal `carbon` and its `renewable` surplus; RTTs come from
`latency.py`. There are no weights: the objective is lexicographic (see
`facility.py`), so each figure keeps its unit.
"""

from controlplane.scheduler.scores.energy import OBJECTIVES, UNITS, replica_cost_per_h

__all__ = ["OBJECTIVES", "UNITS", "replica_cost_per_h"]

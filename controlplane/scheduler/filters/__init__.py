"""Hard filters, one module each: which nodes may take one more replica, and why not.

Each module holds its name, its rejection reason (the constant `tpctl describe`
prints), a pure mask function over arrays, and a small class implementing
`framework.Filter` around it.
"""

from controlplane.scheduler.filters.cordon import Cordon
from controlplane.scheduler.filters.gpus import Gpus
from controlplane.scheduler.filters.power import Power
from controlplane.scheduler.filters.privacy import Privacy
from controlplane.scheduler.filters.ready import Ready
from controlplane.scheduler.filters.residency import Residency
from controlplane.scheduler.filters.taints import Taints
from controlplane.scheduler.filters.tier import Tier

__all__ = [
    "Cordon",
    "Gpus",
    "Power",
    "Privacy",
    "Ready",
    "Residency",
    "Taints",
    "Tier",
]

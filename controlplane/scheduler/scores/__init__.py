"""Soft scores, one module each, in physical units: ms, gCO2/kWh, price per kWh, shares.

Each module holds its name (the key of its weight in `PlacementRequest.weights`),
the pure function that computes its figure, and a class implementing
`framework.Score` that says which end is better and what range to normalise.
"""

from controlplane.scheduler.scores.carbon import Carbon
from controlplane.scheduler.scores.latency import Latency
from controlplane.scheduler.scores.price import Price
from controlplane.scheduler.scores.renewable import Renewable
from controlplane.scheduler.scores.spread import Spread

__all__ = ["Carbon", "Latency", "Price", "Renewable", "Spread"]

"""The live inventory: what every node has and draws, right now, in columns."""

from controlplane.inventory.snapshot import TIERS, FleetSnapshot, NodeTaint
from controlplane.inventory.table import InventoryTable, Transition

__all__ = ["TIERS", "FleetSnapshot", "InventoryTable", "NodeTaint", "Transition"]

"""The reconciler's seams: what it needs of the world, as small protocols of its own.

The controller reads the live inventory through `Inventory` (read-only) and
sends commands to node agents through `AgentCommands`; agents' reports reach
it as plain `ReplicaReport`s. The server wires in the real ones (`InventoryTable`,
`AgentHub`); tests pass a fake command sink and drive it in-process, so the
reconciler never imports the API layer or wire types.
"""

from __future__ import annotations

from typing import Protocol

from controlplane.inventory.snapshot import FleetSnapshot
from controlplane.resources import Replica


class AgentCommands(Protocol):
    """Commands to node agents, over their streams. Sends to a disconnected node are dropped:
    the agent converges when it reconnects (its Hello lists what it runs)."""

    def connected(self, node: str) -> bool:
        """Whether the node's agent has a stream open now."""
        ...

    async def deploy(self, replica: Replica) -> None:
        """Run `replica` on its node (`spec.node_name`); idempotent on the agent's side."""
        ...

    async def undeploy(self, node: str, name: str) -> None:
        """Stop replica `name` on `node`; the agent reports it Stopped when it is."""
        ...


class Inventory(Protocol):
    """A read-only view of the live node table."""

    def snapshot(self) -> FleetSnapshot:
        """A consistent copy of every node's live figures, for placement."""
        ...

    def node_ready(self, name: str) -> bool:
        """Ready now (stream up, heartbeats fresh); False for an unknown node."""
        ...

    def node_seen(self, name: str) -> bool:
        """Whether the node's agent has connected since this process started."""
        ...

    def demand_response_kw(self) -> dict[str, float]:
        """Node -> the draw its site's feed asks for now (a grid demand-response signal)."""
        ...

    def suspect_self(self, now_s: float) -> bool:
        """Whether so much of the fleet went silent at once that the fault is likelier the
        control plane's own (inventory/liveness.py): then nothing is replaced."""
        ...

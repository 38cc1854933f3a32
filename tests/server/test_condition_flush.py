"""The Ready conditions and events of a join storm, flushed to the real SQLite store.

The flush writes concurrently so that the store's group commit batches them;
every node still gets its condition and every transition its event, and the
events share one lease rather than one grant each.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from controlplane.inventory.table import Transition
from controlplane.objects import ObjectStore
from controlplane.resources import Node, load_manifests
from controlplane.server.app import ConditionRecorder
from controlplane.store.sqlite import SqliteStore

NODE = """
apiVersion: tokenplane.io/v1
kind: Node
metadata: {{name: n{i}}}
spec:
  tier: edge
  location: {{region: fra, country: DE, lat: 50.1, lon: 8.7}}
  capacity: {{gpus: [{{model: L4, count: 1, memoryGb: 24}}]}}
  power: {{budgetKw: 1.0}}
"""
NODES = 200


class CountingStore(SqliteStore):
    grants = 0

    async def grant_lease(self, ttl_s: float) -> int:
        self.grants += 1
        return await super().grant_lease(ttl_s)


def nodes_to_store() -> list[Node]:
    nodes = [n for i in range(NODES) for n in load_manifests(NODE.format(i=i))]
    return [n for n in nodes if isinstance(n, Node)]


async def flush_a_storm(tmp_path: Path) -> tuple[list[Node], int, int]:
    store = CountingStore(tmp_path / "store.db")
    try:
        objects = ObjectStore(store)
        await asyncio.gather(*(objects.create(node) for node in nodes_to_store()))
        recorder = ConditionRecorder(objects)
        for i in range(NODES):
            recorder.add(Transition(f"n{i}", True, "joined"))
        recorder.add(Transition("n0", False, "heartbeats stopped"))
        await recorder.flush()
        nodes = await objects.list_of(Node)
        events, _ = await objects.list_events("Node")
        return nodes, len(events), store.grants
    finally:
        await store.close()


def test_every_node_gets_its_latest_condition_and_every_transition_its_event(
    tmp_path: Path,
) -> None:
    nodes, events, grants = asyncio.run(flush_a_storm(tmp_path))
    ready = {
        n.name: [c.status for c in (n.status.conditions if n.status else []) if c.type == "Ready"]
        for n in nodes
    }
    assert ready["n0"] == ["False"]  # the latest transition wins
    assert all(ready[f"n{i}"] == ["True"] for i in range(1, NODES))
    assert events == NODES + 1
    assert grants == 1

"""Apply racing the reconciler's status write, on the real SQLite store.

An apply without a resourceVersion means "make it so": losing the race to a status
update must not fail it (CI saw `resourceVersion 3 is stale (now 5)` for exactly
that). An apply that names a resourceVersion still gets the conflict.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controlplane.errors import StaleVersion
from controlplane.objects import ApplyResult, ObjectStore, R
from controlplane.resources import ModelDeployment, load_manifests
from controlplane.store.sqlite import SqliteStore

MANIFEST = """
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {{name: chat}}
spec:
  model: {{name: chat, runtime: fixture}}
  replicas: {replicas}
  resources: {{gpus: 1, gpuModel: L4, powerKw: 0.3}}
  demand: [{{lat: 48.14, lon: 11.58}}]
"""


def deployment(replicas: int) -> ModelDeployment:
    resource = load_manifests(MANIFEST.format(replicas=replicas))[0]
    assert isinstance(resource, ModelDeployment)
    return resource


class RacedObjects(ObjectStore):
    """Lets a status write land between apply's read and its write, once."""

    raced = False

    async def _replace(self, current: R, updated: R) -> R:
        if not self.raced:
            self.raced = True
            await self.update("ModelDeployment", "chat", lambda d: d)
        return await super()._replace(current, updated)


async def apply_racing_a_status_write(tmp_path: Path, *, with_version: bool) -> ModelDeployment:
    store = SqliteStore(tmp_path / "store.db")
    try:
        objects = RacedObjects(store)
        created, _ = await objects.apply(deployment(1))
        change = deployment(3)
        if with_version:
            change.metadata.resource_version = created.metadata.resource_version
        applied, result = await objects.apply(change)
        assert objects.raced
        assert result is ApplyResult.CONFIGURED
        return applied
    finally:
        await store.close()


def test_an_apply_without_a_version_wins_over_a_racing_status_write(tmp_path: Path) -> None:
    applied = asyncio.run(apply_racing_a_status_write(tmp_path, with_version=False))
    assert applied.spec.replicas == 3
    assert applied.metadata.generation == 2


def test_an_apply_naming_a_version_gets_the_conflict(tmp_path: Path) -> None:
    with pytest.raises(StaleVersion):
        asyncio.run(apply_racing_a_status_write(tmp_path, with_version=True))

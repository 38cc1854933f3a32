"""One local Ray for the whole test session: starting it takes about 4 s (MEASURED.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    import ray

    from controlplane.scheduler import connect_ray

    started = not ray.is_initialized()
    connect_ray(num_cpus=2)
    yield
    if started:
        ray.shutdown()

"""Read-modify-write of one object, as `scale`, `label`, `annotate` and `edit` do it.

The change is sent whole, at the version it was read at: a write by someone
else in between is a Conflict, and the change is made again on the new
version (up to CONFLICT_RETRIES times). These are not applies: the
last-applied annotation is left as it is, so a later `apply` keeps what they
changed unless the file itself names the field (kubectl's behaviour).
"""

from __future__ import annotations

from collections.abc import Callable

from controlplane.cli.client import FleetClient
from controlplane.cli.errors import CliError
from controlplane.resources.codec import Resource

CONFLICT_RETRIES = 3


def update(
    client: FleetClient, kind: str, name: str, mutate: Callable[[Resource], bool]
) -> tuple[Resource, bool]:
    """`mutate` changes its argument in place and says whether it changed anything; returns
    the object as stored and whether it was written."""
    for attempt in range(CONFLICT_RETRIES):
        live = client.get(kind, name)
        changed = live.model_copy(deep=True)
        if not mutate(changed):
            return live, False
        try:
            stored, _ = client.apply(changed)
        except CliError as e:
            if e.reason != "Conflict" or attempt == CONFLICT_RETRIES - 1:
                raise
            continue
        return stored, True
    raise AssertionError("unreachable")

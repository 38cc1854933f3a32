"""Typed resources over the key-value store: the API server's registry.

Keys are `/tokenplane/<plural>/<name>`; values are the manifest as JSON without
its resourceVersion, which is the key's mod revision, so it can never disagree
with the store. Every write is a compare-and-swap on that revision: two writers
racing on one object cannot both win, and a user who applies with a stale
resourceVersion is told so instead of overwriting someone else's change.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar, cast

from controlplane.errors import AlreadyExists, Exhausted, NotFound, StaleVersion, clip
from controlplane.resources import KINDS, Event, ObjectMeta
from controlplane.resources.event import ObjectReference
from controlplane.resources.limits import MAX_OBJECT_BYTES
from controlplane.resources.manifest import Resource
from controlplane.resources.selector import LabelSelector
from controlplane.store import Conflict, EventType, KeyValue, Store, TooLarge

R = TypeVar("R", bound=Resource)

PLURALS = {
    "Node": "nodes",
    "ModelDeployment": "modeldeployments",
    "Replica": "replicas",
    "Curtailment": "curtailments",
}
ROOT = "/tokenplane/"
EVENTS_PREFIX = f"{ROOT}events/"
EVENT_TTL_S = 3600.0


class ApplyResult(enum.Enum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"


class Change(enum.Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """A change to one resource, for the Fleet API's Watch (the store's `KeyEvent`, decoded)."""

    change: Change
    name: str
    resource: Resource | None  # None when DELETED: the store keeps no tombstone
    revision: int


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def key_of(kind: str, name: str) -> str:
    return f"{ROOT}{PLURALS[kind]}/{name}"


def prefix_of(kind: str) -> str:
    return f"{ROOT}{PLURALS[kind]}/"


# The store's revision is the object's resourceVersion: it is not stored in the value.
_NOT_STORED = {"metadata": {"resource_version"}}


def _encode(resource: Resource | Event) -> bytes:
    # Serialised by pydantic-core in one pass: a dict dump and json.dumps after it were
    # the larger part of a join storm's writes (py-spy).
    value = resource.model_dump_json(by_alias=True, exclude_none=True, exclude=_NOT_STORED).encode()
    if len(value) > MAX_OBJECT_BYTES:
        raise _too_large(resource.kind, resource.metadata.name, f"{len(value):,} bytes")
    return value


def _too_large(kind: str, name: str, why: str) -> Exhausted:
    return Exhausted(
        f'{kind} "{clip(name)}": too large to store ({why}); an object is at most '
        f"{MAX_OBJECT_BYTES:,} bytes (1 MiB): move bulky data out of its spec and annotations"
    )


def _decode(kv: KeyValue, model: type[R]) -> R:
    # cast: mypy types `Self` on a union-bound TypeVar as the whole union
    resource = cast(R, model.model_validate_json(kv.value))
    resource.metadata.resource_version = str(kv.mod_revision)
    return resource


def _decode_kind(kv: KeyValue, kind: str) -> Resource:
    resource: Resource = KINDS[kind].model_validate_json(kv.value)
    resource.metadata.resource_version = str(kv.mod_revision)
    return resource


def _same_desired_state(a: Resource, b: Resource) -> bool:
    return (
        a.spec == b.spec
        and a.metadata.labels == b.metadata.labels
        and a.metadata.annotations == b.metadata.annotations
    )


class ObjectStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._event_lease: tuple[int, float] | None = None
        self._event_lease_lock = asyncio.Lock()  # concurrent events share one grant

    async def get(self, kind: str, name: str) -> Resource | None:
        kv = await self.store.get(key_of(kind, name))
        return _decode_kind(kv, kind) if kv else None

    async def exists(self, kind: str, name: str) -> bool:
        """Whether the object is stored, without decoding it (a Join asks for every node)."""
        return await self.store.get(key_of(kind, name)) is not None

    async def _get_as(self, model: type[R], name: str) -> R | None:
        kv = await self.store.get(key_of(model.model_fields["kind"].default, name))
        return _decode(kv, model) if kv else None

    async def must_get(self, kind: str, name: str) -> Resource:
        resource = await self.get(kind, name)
        if resource is None:
            raise NotFound(kind, name)
        return resource

    async def list(
        self, kind: str, selector: LabelSelector | None = None, *, after: str = ""
    ) -> tuple[builtins.list[Resource], int]:
        """The objects of `kind` by name (only those named after `after`, for a next page)."""
        kvs, revision = await self.store.list(prefix_of(kind))
        if after:
            first = key_of(kind, after).encode()
            kvs = [kv for kv in kvs if kv.key.encode() > first]
        items = [_decode_kind(kv, kind) for kv in kvs]
        if selector is not None:
            items = [r for r in items if selector(r.metadata.labels)]
        return items, revision

    async def list_of(self, model: type[R]) -> builtins.list[R]:
        """Every stored object of one kind, typed: for the control plane's own loops."""
        kvs, _ = await self.store.list(prefix_of(model.model_fields["kind"].default))
        return [_decode(kv, model) for kv in kvs]

    async def create(self, resource: R) -> R:
        meta = resource.metadata
        meta.uid = meta.uid or str(uuid.uuid4())
        meta.creation_timestamp = meta.creation_timestamp or now_rfc3339()
        meta.generation = 1
        try:
            revision = await self.store.put(
                key_of(resource.kind, meta.name), _encode(resource), expect_mod_revision=0
            )
        except Conflict:
            raise AlreadyExists(resource.kind, meta.name) from None
        except TooLarge as e:
            raise _too_large(resource.kind, meta.name, str(e)) from None
        meta.resource_version = str(revision)
        return resource

    async def apply(self, resource: R, *, dry_run: bool = False) -> tuple[R, ApplyResult]:
        """Creates or updates the desired state (spec, labels, annotations); keeps status.

        Without a resourceVersion the caller means "make it so": a write that lost a race
        (the reconciler's status update, say) is retried on the fresh object, as
        `kubectl apply` does. With one, a race is the caller's StaleVersion to resolve.
        """
        given = resource.metadata.resource_version
        while True:
            current = await self._get_as(type(resource), resource.name)
            if current is None:
                if given:
                    raise NotFound(resource.kind, resource.name)
                resource.status = (
                    type(resource).model_fields["status"].get_default(call_default_factory=True)
                )
                return (resource if dry_run else await self.create(resource)), ApplyResult.CREATED
            if given and given != current.metadata.resource_version:
                raise StaleVersion(
                    resource.kind, resource.name, given, current.metadata.resource_version
                )
            if _same_desired_state(current, resource):
                return current, ApplyResult.UNCHANGED
            updated = cast(R, current.model_copy(deep=True))  # as in _decode
            if updated.spec != resource.spec:
                updated.metadata.generation += 1
            updated.spec = resource.spec
            updated.metadata.labels = resource.metadata.labels
            updated.metadata.annotations = resource.metadata.annotations
            if dry_run:
                return updated, ApplyResult.CONFIGURED
            try:
                return await self._replace(current, updated), ApplyResult.CONFIGURED
            except StaleVersion:
                if given:
                    raise

    async def _replace(self, current: R, updated: R) -> R:
        try:
            revision = await self.store.put(
                key_of(updated.kind, updated.name),
                _encode(updated),
                expect_mod_revision=int(current.metadata.resource_version),
            )
        except Conflict as e:
            raise StaleVersion(
                updated.kind,
                updated.name,
                current.metadata.resource_version,
                str(e.actual_revision),
            ) from None
        except TooLarge as e:
            raise _too_large(updated.kind, updated.name, str(e)) from None
        updated.metadata.resource_version = str(revision)
        return updated

    async def update(self, kind: str, name: str, mutate: Callable[[R], R | None]) -> R:
        """Read-modify-write with retries on conflict; `mutate` returns None for "no change".

        `mutate` gets the stored object decoded for it alone, to change in place (no
        copy: the deep copy was a tenth of a join storm's Ready writes); it returns None
        only having changed nothing, and may be called more than once.
        """
        while True:
            # cast: the stored object of `kind` is what `mutate` is written for
            current = cast(R, await self.must_get(kind, name))
            updated = mutate(current)
            if updated is None:
                return current
            try:
                return await self._replace(current, updated)
            except StaleVersion:
                continue

    async def delete(self, kind: str, name: str, resource_version: str = "") -> Resource:
        current = await self.must_get(kind, name)
        expect = int(resource_version or current.metadata.resource_version)
        try:
            await self.store.delete(key_of(kind, name), expect_mod_revision=expect)
        except Conflict as e:
            raise StaleVersion(kind, name, str(expect), str(e.actual_revision)) from None
        return current

    async def watch(
        self,
        kind: str,
        *,
        start_revision: int | None = None,
        selector: LabelSelector | None = None,
    ) -> AsyncIterator[ObjectEvent]:
        async for event in self.store.watch(prefix_of(kind), start_revision=start_revision):
            name = event.kv.key.rsplit("/", 1)[-1]
            if event.type is EventType.DELETE:
                yield ObjectEvent(Change.DELETED, name, None, event.kv.mod_revision)
                continue
            resource = _decode_kind(event.kv, kind)
            if selector is not None and not selector(resource.metadata.labels):
                continue
            change = Change.ADDED if event.kv.version == 1 else Change.MODIFIED
            yield ObjectEvent(change, name, resource, event.kv.mod_revision)

    async def record_event(
        self,
        involved: ObjectReference,
        reason: str,
        message: str,
        *,
        type_: Literal["Normal", "Warning"] = "Normal",
        source: str = "",
    ) -> Event:
        """Events expire after an hour, as in Kubernetes: they explain, they are not state."""
        stamp = time.time_ns()
        name = f"{involved.name}.{stamp:x}"
        event = Event(
            metadata=ObjectMeta(name=name, creation_timestamp=now_rfc3339()),
            involved_object=involved,
            type=type_,
            reason=reason,
            message=message,
            time=now_rfc3339(),
            source=source,
        )
        key = f"{EVENTS_PREFIX}{involved.kind}/{name}"
        await self.store.put(key, _encode(event), lease=await self._events_lease())
        return event

    async def _events_lease(self) -> int:
        """One lease per half hour of events, so that each event lives 30-60 minutes."""
        async with self._event_lease_lock:
            now = time.monotonic()
            if self._event_lease is None or now - self._event_lease[1] > EVENT_TTL_S / 2:
                self._event_lease = (await self.store.grant_lease(EVENT_TTL_S), now)
            return self._event_lease[0]

    async def list_events(self, kind: str = "", name: str = "") -> tuple[builtins.list[Event], int]:
        prefix = f"{EVENTS_PREFIX}{kind}/" if kind else EVENTS_PREFIX
        kvs, revision = await self.store.list(prefix)
        events = [Event.model_validate_json(kv.value) for kv in kvs]
        if name:
            events = [e for e in events if e.involved_object.name == name]
        return sorted(events, key=lambda e: e.metadata.name.rsplit(".", 1)[-1]), revision

    async def watch_events(self, start_revision: int) -> AsyncIterator[Event]:
        async for event in self.store.watch(EVENTS_PREFIX, start_revision=start_revision):
            if event.type is EventType.PUT:
                yield Event.model_validate_json(event.kv.value)

"""The store contract every backend keeps: etcd's data model, as Python types.

The control plane keeps all of its state in a key-value store with etcd's
semantics (store-wide revisions, compare-and-swap on a key's mod revision,
watches that resume from a revision, leases), so that the same code runs on an
embedded SQLite file on one machine and on an etcd cluster for high
availability. This module holds that contract and nothing backend-specific:
the records, the errors (each one a decision the caller has to make), and the
`Store` protocol. One conformance suite (tests/store) holds both backends to it.

Keys are non-empty strings, compared and ordered by their UTF-8 bytes. A
prefix is a plain string prefix, as in etcd: "/a/b" also matches "/a/bc", so
callers end prefixes with "/".
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    """A key's current state. `mod_revision` is the resource's resourceVersion."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


class EventType(StrEnum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A change to one key.

    For DELETE, `kv.value` is b"" and `kv.mod_revision` is the delete's revision."""

    type: EventType
    kv: KeyValue


class StoreError(Exception):
    """Base of every error a store raises."""


class Conflict(StoreError):
    """A compare-and-swap failed: the key is not at the expected revision.

    The caller re-reads and decides again. `actual_revision` is 0 if the key
    does not exist.
    """

    def __init__(self, key: str, expected_revision: int, actual_revision: int) -> None:
        self.key = key
        self.expected_revision = expected_revision
        self.actual_revision = actual_revision
        expected = "absent" if expected_revision == 0 else f"mod_revision {expected_revision}"
        actual = "absent" if actual_revision == 0 else f"at mod_revision {actual_revision}"
        super().__init__(f"conflict on {key!r}: expected {expected}, but it is {actual}")


class Compacted(StoreError):
    """A watch asked for history the store no longer keeps: list again, then watch."""

    def __init__(self, compact_revision: int) -> None:
        self.compact_revision = compact_revision
        super().__init__(
            f"revisions before {compact_revision} were compacted; list again and watch from there"
        )


class TooLarge(StoreError):
    """A write beyond the backend's request size limit (etcd's --max-request-bytes)."""


class LeaseNotFound(StoreError):
    """The lease expired or was revoked; its keys are gone."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached now; retrying later may succeed."""


@dataclass(frozen=True, slots=True)
class EtcdTLS:
    """Files for a TLS connection to etcd: a CA bundle, and a client pair for mTLS."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("EtcdTLS needs both cert_file and key_file, or neither")


class Store(Protocol):
    """An etcd-like key-value store. All methods are safe to call concurrently."""

    async def get(self, key: str) -> KeyValue | None:
        """The key's current state, or None."""
        ...

    async def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Keys under `prefix` sorted by key, and the store revision they were read at.

        Watch from that revision + 1 to see every later change.
        """
        ...

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expect_mod_revision: int | None = None,
        lease: int = 0,
    ) -> int:
        """Write the key and return its new mod_revision.

        `expect_mod_revision`: None writes unconditionally, 0 only creates (the
        key must not exist), N writes only if the key is at mod_revision N;
        otherwise Conflict. `lease` attaches the key to a lease (LeaseNotFound if
        it is gone); a put without one detaches the key from any lease.
        """
        ...

    async def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int | None:
        """Delete the key; the delete's revision, or None if there was nothing to delete.

        `expect_mod_revision` as in put(); Conflict on mismatch.
        """
        ...

    def watch(
        self, prefix: str, *, start_revision: int | None = None
    ) -> AsyncGenerator[KeyEvent, None]:
        """Changes under `prefix` in revision order, with revision >= start_revision.

        None means changes after the watch is established on first iteration;
        to miss nothing, pass the revision from list() + 1. Raises Compacted if
        start_revision is older than the history kept. Iterate it inside
        `contextlib.aclosing(...)` so that stopping frees it at once.
        """
        ...

    async def grant_lease(self, ttl_s: float) -> int:
        """A new lease that expires `ttl_s` after its last keepalive; its ID."""
        ...

    async def keepalive(self, lease_id: int) -> None:
        """Refresh the lease once; LeaseNotFound if it expired or was revoked."""
        ...

    async def revoke_lease(self, lease_id: int) -> None:
        """End the lease now and delete its keys (watchers see DELETE events)."""
        ...

    async def revision(self) -> int:
        """The store's current revision."""
        ...

    async def close(self) -> None:
        """Release connections and background tasks; open watches end with StoreError."""
        ...


def encode_key(key: str) -> bytes:
    """The key as stored, refusing the empty key (etcd does too)."""
    if not key:
        raise ValueError("a store key must not be empty")
    return key.encode()


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key starting with `prefix`, as etcd defines it.

    Drop trailing 0xff bytes and increment the last; b"\\0" (etcd's "no end")
    if nothing is left, which with the empty prefix means every key.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def check_revision(name: str, revision: int | None, *, minimum: int = 0) -> None:
    """Refuse revisions that cannot exist, so a caller's bug does not read as a Conflict."""
    if revision is not None and revision < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {revision}")

"""Leader election of control-plane replicas through a leased key, on any Store.

Several replicas may run against one etcd for availability, but only one may
schedule and reconcile at a time. Each campaigns by creating one key bound to
its own lease (`put(expect_mod_revision=0, lease=...)`): the store lets one
creation succeed. The leader refreshes its lease every ttl/3 and checks the
key is still its own; the others watch the key and campaign again when it is
deleted, which happens when the leader resigns (revokes its lease) or its
lease expires because it crashed, hung or lost the store.

Safety: `is_leader` turns false by itself once `ttl_s` has passed since the
last refresh that was sent before succeeding, which is no later than the
store can expire the lease; so a leader cut off from the store stops acting
as leader before another can be elected. Work that must be done by the
leader alone should check `is_leader` before each step.

Cancelling `run()` leaves the lease to expire, as a crash would; `resign()`
(or leaving `async with`) revokes it, so another replica takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from controlplane.store.base import (
    Conflict,
    EventType,
    LeaseNotFound,
    Store,
    StoreError,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 10.0


class LeaderElection:
    """One replica's candidacy for the leadership that `key` records."""

    def __init__(
        self, store: Store, key: str, identity: str, *, ttl_s: float = DEFAULT_TTL_S
    ) -> None:
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self.key = key
        self.identity = identity
        self._store = store
        self._ttl_s = ttl_s
        self._lease = 0
        self._leader_until = 0.0  # time.monotonic() after which we no longer lead
        self._elected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return time.monotonic() < self._leader_until

    async def wait_until_leader(self) -> None:
        """Return once this replica leads (check `is_leader` afterwards: it can lapse)."""
        await self._elected.wait()

    async def run(self) -> None:
        """Campaign, lead while the lease holds, campaign again if it is lost; forever."""
        if self._runner is not None:
            raise RuntimeError(f"election for {self.key!r} is already running")
        self._runner = asyncio.current_task()
        try:
            await self._run()
        finally:
            self._runner = None

    async def resign(self) -> None:
        """Stop campaigning and give up leadership now, revoking the lease."""
        runner, self._runner = self._runner, None
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            await asyncio.wait([runner])
        await self._drop_lease()
        if runner is not None and not runner.cancelled() and (error := runner.exception()):
            raise error

    async def __aenter__(self) -> LeaderElection:
        if self._runner is not None:
            raise RuntimeError(f"election for {self.key!r} is already running")
        self._runner = asyncio.create_task(self._run(), name=f"election {self.key}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.resign()

    async def _run(self) -> None:
        retry_s = self._ttl_s / 3
        try:
            while True:
                try:
                    if await self._campaign():
                        await self._lead()
                        self._step_down()
                        await self._drop_lease()
                    else:
                        await self._wait_for_vacancy()
                except StoreError as e:
                    self._step_down()
                    await self._drop_lease()
                    log.warning("election for %s: %s; retrying in %.1f s", self.key, e, retry_s)
                    await asyncio.sleep(retry_s)
        finally:
            self._step_down()

    async def _campaign(self) -> bool:
        """Try to create the key under a new lease; whether we now lead."""
        sent = time.monotonic()
        self._lease = await self._store.grant_lease(self._ttl_s)
        try:
            await self._store.put(
                self.key, self.identity.encode(), expect_mod_revision=0, lease=self._lease
            )
        except Conflict:
            await self._drop_lease()
            return False
        self._leader_until = sent + self._ttl_s
        self._elected.set()
        log.info("%s is now the leader for %s", self.identity, self.key)
        return True

    async def _lead(self) -> None:
        """Keep the lease alive every ttl/3; return when leadership is lost."""
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            sent = time.monotonic()
            try:
                await self._store.keepalive(self._lease)
                kv = await self._store.get(self.key)
            except LeaseNotFound:
                log.warning("%s lost the lead for %s: its lease expired", self.identity, self.key)
                return
            except StoreUnavailable as e:
                if not self.is_leader:
                    log.warning("%s lost the lead for %s: %s", self.identity, self.key, e)
                    return
                log.warning("%s could not renew the lead for %s: %s", self.identity, self.key, e)
                continue
            if kv is None or kv.lease != self._lease:
                log.warning(
                    "%s lost the lead for %s: the key was replaced", self.identity, self.key
                )
                return
            self._leader_until = sent + self._ttl_s

    async def _wait_for_vacancy(self) -> None:
        """Return once the key is gone (deleted, or its lease expired)."""
        kvs, revision = await self._store.list(self.key)
        if not any(kv.key == self.key for kv in kvs):
            return
        watch = self._store.watch(self.key, start_revision=revision + 1)
        async with contextlib.aclosing(watch) as events:
            async for event in events:
                if event.kv.key == self.key and event.type is EventType.DELETE:
                    return

    def _step_down(self) -> None:
        if self._leader_until:
            log.info("%s is no longer the leader for %s", self.identity, self.key)
        self._leader_until = 0.0
        self._elected.clear()

    async def _drop_lease(self) -> None:
        """Revoke our lease if we hold one; if the store is unreachable it expires anyway."""
        lease, self._lease = self._lease, 0
        if lease:
            with contextlib.suppress(StoreError):
                await self._store.revoke_lease(lease)

"""Node identity: who may join, who may speak for a node, and the Identity API.

- A join token registers new node names only. Re-joining a registered name
  takes that node's own credential (its node token, or a client certificate
  naming it) or an operator's approval of one re-join.
- A node token carries the node's credential epoch. The store keeps, per node,
  the range of epochs it accepts: a rotation opens the next epoch and closes
  the old one once the agent says it saved the new token; a revocation or a
  deletion closes every epoch so far at once. No record means epoch 1.
- The store holds no secret: join tokens by the hash of their secret, node
  records with epochs only.

One process serves (the leader), so it caches node records it has read or
written; a standby that becomes leader starts with an empty cache.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import grpc
from pydantic import Field, TypeAdapter
from pydantic.dataclasses import dataclass as pydantic_dataclass

from controlplane.api.auth import (
    BOOTSTRAP_TOKEN_ID,
    JOIN_TOKEN_RE,
    Authenticator,
    JoinTokenRecord,
    NodeClaims,
    NodeTokenSigner,
    Role,
    bearer,
    check_join_token,
    digest,
    new_join_token,
    note_caller,
    rfc3339,
    same_secret,
)
from controlplane.api.status import unary
from controlplane.errors import Forbidden, Invalid, NotFound, Unauthenticated
from controlplane.objects import ObjectStore, now_rfc3339
from controlplane.store import Conflict, Store
from tokenplane.v1 import agent_pb2, identity_pb2, identity_pb2_grpc

log = logging.getLogger(__name__)

IDENTITY = "/tokenplane/identity/"
JOIN_TOKENS = IDENTITY + "join-tokens/"
NODES = IDENTITY + "nodes/"
DEFAULT_APPROVAL_TTL_S = 3600
MAX_JOIN_TOKENS = 1000

Clock = Callable[[], float]


@pydantic_dataclass(frozen=True, slots=True)
class NodeRecord:
    """The node token epochs the server accepts: min_epoch..epoch.

    A slotted dataclass, not a BaseModel: the server caches one per node, and a
    model's field bookkeeping doubled it (the cache held 614 B a node, now 310).
    """

    epoch: int = Field(default=1, ge=1)
    min_epoch: int = Field(default=1, ge=1)
    # An operator's approval of one re-join, until then (unix seconds); 0: none.
    approved_until_unix_s: float = 0
    # SHA-256 (hex) of the node key the agent joined with; "": none, or revoked.
    key_sha256: str = ""


_NODE_RECORD = TypeAdapter(NodeRecord)


@dataclass(frozen=True, slots=True)
class Admission:
    """A Join that may go ahead: the labels its token sets, and the epoch to mint for."""

    labels: dict[str, str]
    token_id: str


def peer_names(context: grpc.aio.ServicerContext) -> list[str] | None:
    """The CN and DNS/IP SANs of the caller's client certificate; None without one."""
    auth = context.auth_context()
    names = [
        n.decode(errors="replace")
        for key in ("x509_common_name", "x509_subject_alternative_name")
        for n in auth.get(key, ())
    ]
    return names or None


def check_certificate(name: str, names: Sequence[str] | None) -> None:
    """With mTLS, a node speaks only as a name its certificate carries (CN or SAN)."""
    if names is not None and name not in names:
        raise Forbidden(
            f"node {name}: the client certificate names {', '.join(sorted(set(names)))}, "
            "not this node: a node's certificate must carry its name as CN or DNS SAN"
        )


class NodeIdentity:
    """Join admission, node tokens and their epochs, backed by the store."""

    def __init__(
        self,
        *,
        store: Store,
        signer: NodeTokenSigner,
        bootstrap_token: str | None,
        token_ttl_s: float,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._signer = signer
        self._bootstrap = digest(bootstrap_token) if bootstrap_token else None
        self.token_ttl_s = token_ttl_s
        self._clock = clock
        self._records: dict[str, tuple[NodeRecord, int]] = {}  # name: (record, mod_revision)
        # When the token each connected node holds expires, and rotations sent but not saved.
        self.expiry: dict[str, float] = {}
        self._pending: dict[str, tuple[int, str]] = {}

    # --- node records ---------------------------------------------------------------------

    async def record(self, name: str) -> tuple[NodeRecord, int]:
        cached = self._records.get(name)
        if cached is not None:
            return cached
        kv = await self._store.get(NODES + name)
        found = (
            (_NODE_RECORD.validate_json(kv.value), kv.mod_revision)
            if kv
            else (
                NodeRecord(),
                0,
            )
        )
        self._records[name] = found
        return found

    async def _update(self, name: str, change: Callable[[NodeRecord], NodeRecord]) -> NodeRecord:
        while True:
            current, revision = await self.record(name)
            new = change(current)  # frozen: changes make a new record
            try:
                revision = await self._store.put(
                    NODES + name, _NODE_RECORD.dump_json(new), expect_mod_revision=revision
                )
            except Conflict:
                self._records.pop(name, None)
                continue
            self._records[name] = (new, revision)
            return new

    # --- node tokens ----------------------------------------------------------------------

    def _mint(self, name: str, epoch: int) -> tuple[str, float]:
        expires = int(self._clock() + self.token_ttl_s)
        return self._signer.mint(NodeClaims(name, epoch, expires)), expires

    async def issue(self, name: str) -> tuple[str, str]:
        """A node token for the node's current epoch, and when it expires (RFC 3339)."""
        record, _ = await self.record(name)
        token, expires = self._mint(name, record.epoch)
        self.expiry[name] = expires
        return token, rfc3339(expires)

    async def verify(self, token: str) -> NodeClaims:
        """The token's claims if it is signed, unexpired, and of an epoch still accepted."""
        claims = self._signer.verify(token, self._clock())
        record, _ = await self.record(claims.name)
        if not record.min_epoch <= claims.epoch <= record.epoch:
            raise Unauthenticated(
                f"the node token of {claims.name} was revoked or replaced: the agent must join "
                f"again, which takes an operator's `tpctl approve node {claims.name}`"
            )
        return claims

    async def node_of(
        self, metadata: Iterable[tuple[str, str | bytes]] | None, names: Sequence[str] | None
    ) -> str:
        """The node a Connect call may speak for: its node token's, matching its certificate."""
        token = bearer(metadata)
        if token is None:
            raise Unauthenticated("missing node token: Join first")
        claims = await self.verify(token)
        check_certificate(claims.name, names)
        record, _ = await self.record(claims.name)
        if record.min_epoch < claims.epoch == record.epoch:
            # The agent holds its rotated token (its ack was lost): close the older epochs.
            self._pending.pop(claims.name, None)
            await self._update(claims.name, lambda r: replace(r, min_epoch=claims.epoch))
        # An agent still on an older epoch missed its rotation: send it a fresh token now.
        self.expiry[claims.name] = (
            claims.expires_unix_s if claims.epoch == record.epoch else self._clock()
        )
        note_caller(f"node {claims.name}")
        return claims.name

    def due(self, now_unix_s: float, names: Iterable[str]) -> list[str]:
        """Connected nodes whose token is past half its life: rotate theirs."""
        half = self.token_ttl_s / 2
        return [n for n in names if self.expiry.get(n, now_unix_s + half + 1) - now_unix_s < half]

    async def rotate(self, name: str) -> agent_pb2.NodeCredential:
        """Opens the next epoch and mints its token; the old one holds until the agent acks."""
        record = await self._update(name, lambda r: replace(r, epoch=r.epoch + 1))
        token, expires = self._mint(name, record.epoch)
        expiration = rfc3339(expires)
        self.expiry[name] = expires
        self._pending[name] = (record.epoch, expiration)
        return agent_pb2.NodeCredential(node_token=token, expiration_timestamp=expiration)

    async def saved(self, name: str, expiration_timestamp: str) -> bool:
        """The agent saved its rotated token: close the epochs before it."""
        pending = self._pending.get(name)
        if pending is None or pending[1] != expiration_timestamp:
            return False
        del self._pending[name]
        epoch = pending[0]
        await self._update(name, lambda r: replace(r, min_epoch=max(r.min_epoch, epoch)))
        return True

    async def revoke(self, name: str) -> int:
        """Every token of the node so far is refused from now on; returns the new epoch."""
        record = await self._update(
            name,
            lambda r: replace(
                r, epoch=r.epoch + 1, min_epoch=r.epoch + 1, approved_until_unix_s=0, key_sha256=""
            ),
        )
        self._pending.pop(name, None)
        self.expiry.pop(name, None)
        return record.epoch

    async def approve(self, name: str, ttl_s: float) -> float:
        until = self._clock() + ttl_s
        await self._update(name, lambda r: replace(r, approved_until_unix_s=until))
        return until

    # --- joining --------------------------------------------------------------------------

    async def _join_token(self, text: str, node_name: str) -> JoinTokenRecord | None:
        """The limited join token `text` names (counted as used), None for --bootstrap-token."""
        match = JOIN_TOKEN_RE.match(text)
        if match is None:
            if self._bootstrap is not None and same_secret(text, self._bootstrap):
                return None
            raise Unauthenticated("invalid bootstrap token")
        token_id, secret = match.groups()
        while True:
            kv = await self._store.get(JOIN_TOKENS + token_id)
            if kv is None:
                if self._bootstrap is not None and same_secret(text, self._bootstrap):
                    return None
                raise Unauthenticated("invalid bootstrap token")
            record = JoinTokenRecord.model_validate_json(kv.value)
            check_join_token(record, secret, node_name, self._clock())
            used = record.model_copy(update={"used": record.used + 1})
            with contextlib.suppress(Conflict):
                await self._store.put(
                    JOIN_TOKENS + token_id,
                    used.model_dump_json().encode(),
                    expect_mod_revision=kv.mod_revision,
                )
                return used

    async def admit(
        self,
        *,
        name: str,
        bootstrap_token: str,
        metadata: Iterable[tuple[str, str | bytes]] | None,
        names: Sequence[str] | None,
        registered: bool,
        node_key: str = "",
    ) -> Admission:
        """Whether this Join may (re-)register `name`; raises Unauthenticated or Forbidden.

        A new name takes a join token. A registered one takes the node's own
        credential (a node token, its node key, or a client certificate naming
        it), or a join token together with an operator's approval, which it uses up.
        """
        check_certificate(name, names)
        if registered:
            record, _ = await self.record(name)
            if (
                node_key
                and record.key_sha256
                and same_secret(node_key, bytes.fromhex(record.key_sha256))
            ):
                note_caller(f"node {name} (node key)")
                return Admission({}, "")
            own = bearer(metadata)
            if names is not None:
                note_caller(f"node {name} (client certificate)")
                return Admission({}, "")
            if own is not None:
                try:
                    claims: NodeClaims | None = await self.verify(own)
                except Unauthenticated:
                    claims = None  # a stale token: the approval path below may still admit it
                if claims is not None and claims.name == name:
                    note_caller(f"node {name}")
                    return Admission({}, "")
        token = await self._join_token(bootstrap_token, name)
        token_id = BOOTSTRAP_TOKEN_ID if token is None else token.id
        note_caller(f"join token {token_id}")
        if registered:
            record, _ = await self.record(name)
            if record.approved_until_unix_s <= self._clock():
                raise Forbidden(
                    f"node {name} is already registered: re-joining takes its own node token "
                    f"or client certificate, or an operator's `tpctl approve node {name}`"
                )
            # The approval is used up, and whatever credential the node held before is void.
            await self.revoke(name)
        return Admission(dict(token.labels) if token else {}, token_id)

    async def keep_key(self, name: str, node_key: str) -> None:
        """Remembers the hash of the key a node joined with (once: the first one stays)."""
        if not node_key:
            return
        record, _ = await self.record(name)
        if record.key_sha256:
            return
        key_sha256 = digest(node_key).hex()
        await self._update(name, lambda r: replace(r, key_sha256=key_sha256))

    # --- join tokens ----------------------------------------------------------------------

    async def create_join_token(
        self, request: identity_pb2.CreateJoinTokenRequest, created_by: str
    ) -> tuple[JoinTokenRecord, str]:
        if request.name_pattern:
            try:
                re.compile(request.name_pattern)
            except re.error as e:
                raise Invalid(f"namePattern: not a regular expression: {e}") from None
        tokens, _ = await self._store.list(JOIN_TOKENS)
        if len(tokens) >= MAX_JOIN_TOKENS:
            raise Invalid(f"there are {len(tokens)} join tokens already: delete some first")
        while True:
            token_id, secret = new_join_token()
            now = self._clock()
            record = JoinTokenRecord(
                id=token_id,
                secret_sha256=digest(secret).hex(),
                description=request.description,
                creation_timestamp=now_rfc3339(),
                expires_unix_s=now + request.ttl_seconds if request.ttl_seconds else None,
                usages=request.usages,
                name_pattern=request.name_pattern,
                labels=dict(request.labels),
                created_by=created_by,
            )
            with contextlib.suppress(Conflict):
                await self._store.put(
                    JOIN_TOKENS + token_id, record.model_dump_json().encode(), expect_mod_revision=0
                )
                return record, f"{token_id}.{secret}"

    async def join_tokens(self) -> list[JoinTokenRecord]:
        kvs, _ = await self._store.list(JOIN_TOKENS)
        return [JoinTokenRecord.model_validate_json(kv.value) for kv in kvs]

    async def delete_join_token(self, token_id: str) -> JoinTokenRecord:
        kv = await self._store.get(JOIN_TOKENS + token_id) if token_id else None
        if kv is None:
            raise NotFound("JoinToken", token_id)
        await self._store.delete(JOIN_TOKENS + token_id)
        return JoinTokenRecord.model_validate_json(kv.value)


def join_token_message(record: JoinTokenRecord) -> identity_pb2.JoinToken:
    return identity_pb2.JoinToken(
        id=record.id,
        description=record.description,
        creation_timestamp=record.creation_timestamp,
        expiration_timestamp=rfc3339(record.expires_unix_s) if record.expires_unix_s else "",
        usages=record.usages,
        used=record.used,
        name_pattern=record.name_pattern,
        labels=record.labels,
        created_by=record.created_by,
    )


SessionCloser = Callable[[str, str], Awaitable[None]]


class IdentityService(identity_pb2_grpc.IdentityServiceServicer):
    """The admin's verbs over join tokens and node credentials."""

    def __init__(
        self,
        *,
        identity: NodeIdentity,
        objects: ObjectStore,
        auth: Authenticator,
        close_session: SessionCloser,
    ) -> None:
        self._identity = identity
        self._objects = objects
        self._auth = auth
        self._close_session = close_session

    @unary
    async def CreateJoinToken(
        self, request: identity_pb2.CreateJoinTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateJoinTokenResponse:
        who = self._auth.authorize(context.invocation_metadata(), Role.ADMIN)
        record, token = await self._identity.create_join_token(request, who)
        log.info("join token %s created by %s", record.id, who)
        return identity_pb2.CreateJoinTokenResponse(
            join_token=join_token_message(record), token=token
        )

    @unary
    async def ListJoinTokens(
        self, request: identity_pb2.ListJoinTokensRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListJoinTokensResponse:
        self._auth.authorize(context.invocation_metadata(), Role.ADMIN)
        records = await self._identity.join_tokens()
        return identity_pb2.ListJoinTokensResponse(
            join_tokens=[join_token_message(r) for r in records]
        )

    @unary
    async def DeleteJoinToken(
        self, request: identity_pb2.DeleteJoinTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.DeleteJoinTokenResponse:
        self._auth.authorize(context.invocation_metadata(), Role.ADMIN)
        record = await self._identity.delete_join_token(request.id)
        return identity_pb2.DeleteJoinTokenResponse(join_token=join_token_message(record))

    @unary
    async def ApproveNode(
        self, request: identity_pb2.ApproveNodeRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ApproveNodeResponse:
        self._auth.authorize(context.invocation_metadata(), Role.ADMIN)
        await self._objects.must_get("Node", request.name)
        until = await self._identity.approve(
            request.name, request.ttl_seconds or DEFAULT_APPROVAL_TTL_S
        )
        return identity_pb2.ApproveNodeResponse(
            name=request.name, expiration_timestamp=rfc3339(until)
        )

    @unary
    async def RevokeNode(
        self, request: identity_pb2.RevokeNodeRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RevokeNodeResponse:
        self._auth.authorize(context.invocation_metadata(), Role.ADMIN)
        await self._objects.must_get("Node", request.name)
        epoch = await self._identity.revoke(request.name)
        await self._close_session(
            request.name,
            f"the credentials of node {request.name} were revoked: it may join again once "
            f"an operator runs `tpctl approve node {request.name}`",
        )
        return identity_pb2.RevokeNodeResponse(name=request.name, epoch=epoch)

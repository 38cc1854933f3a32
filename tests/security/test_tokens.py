"""The token rules as pure functions and one store: signing, expiry, epochs, join limits.

NodeIdentity runs over a real SQLite store in a temporary directory, with the
clock passed in, so expiry and rotation are checked without waiting.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controlplane.api.auth import (
    ApiToken,
    Authenticator,
    JoinTokenRecord,
    NodeClaims,
    NodeTokenSigner,
    Role,
    check_join_token,
    digest,
)
from controlplane.api.identity import NodeIdentity
from controlplane.errors import Forbidden, Unauthenticated
from controlplane.store import open_store
from tokenplane.v1 import identity_pb2

KEY = b"k" * 32
NOW = 1_800_000_000.0


def test_a_node_token_is_refused_when_forged_tampered_expired_or_of_another_key() -> None:
    signer = NodeTokenSigner(KEY)
    token = signer.mint(NodeClaims("edge-1", 3, int(NOW) + 60))
    assert signer.verify(token, NOW) == NodeClaims("edge-1", 3, int(NOW) + 60)
    prefix, payload, mac = token.split(".")
    other = signer.mint(NodeClaims("edge-2", 3, int(NOW) + 60)).split(".")[1]
    for bad in (
        f"{prefix}.{other}.{mac}",  # another node's claims under edge-1's MAC
        f"{prefix}.{payload}.{mac[:-2]}AA",
        f"{prefix}.{payload}",
        "edge-1:0123456789abcdef",  # the format before epochs
        "tpn1.%%%.###",
        NodeTokenSigner(b"x" * 32).mint(NodeClaims("edge-1", 3, int(NOW) + 60)),
    ):
        with pytest.raises(Unauthenticated, match="invalid node token"):
            signer.verify(bad, NOW)
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token, NOW + 60)
    with pytest.raises(ValueError, match="32 bytes"):
        NodeTokenSigner(b"short")


def test_join_token_limits() -> None:
    record = JoinTokenRecord(
        id="abcdef",
        secret_sha256=digest("0123456789abcdef").hex(),
        creation_timestamp="2027-01-15T08:00:00Z",
        expires_unix_s=NOW + 10,
        usages=2,
        used=1,
        name_pattern="edge-[0-9]+",
    )
    check_join_token(record, "0123456789abcdef", "edge-7", NOW)
    with pytest.raises(Unauthenticated, match="invalid bootstrap token"):
        check_join_token(record, "0123456789abcdeX", "edge-7", NOW)
    with pytest.raises(Unauthenticated, match="expired"):
        check_join_token(record, "0123456789abcdef", "edge-7", NOW + 10)
    with pytest.raises(Forbidden, match="matching"):
        check_join_token(record, "0123456789abcdef", "edge-7x", NOW)
    with pytest.raises(Unauthenticated, match="used up"):
        check_join_token(record.model_copy(update={"used": 2}), "0123456789abcdef", "e-1", NOW)


def test_api_tokens_any_string_is_at_worst_a_wrong_token() -> None:
    auth = Authenticator(
        api_tokens=[ApiToken(name="ops", token="s" * 20, role="operator")]  # type: ignore[arg-type]
    )
    assert auth.authorize((("authorization", f"Bearer {'s' * 20}"),), Role.VIEWER) == "ops"
    with pytest.raises(Forbidden, match="needs admin"):
        auth.authorize((("authorization", f"Bearer {'s' * 20}"),), Role.ADMIN)
    for wrong in ("s" * 19, "", "\ud800", "ünïcode"):
        with pytest.raises(Unauthenticated):
            auth.authorize((("authorization", f"Bearer {wrong}"),), Role.VIEWER)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def make_identity(tmp_path: Path) -> NodeIdentity:
    """Called on the test's event loop: the store binds to it."""
    store = open_store(f"sqlite:///{tmp_path}/store.db")
    return NodeIdentity(
        store=store,
        signer=NodeTokenSigner(KEY),
        bootstrap_token="the-bootstrap-token",
        token_ttl_s=100,
        clock=Clock(),
    )


def test_rotation_keeps_the_old_token_until_the_agent_saved_the_new_one(tmp_path: Path) -> None:
    async def run() -> None:
        identity = make_identity(tmp_path)
        old, _ = await identity.issue("edge-1")
        assert identity.due(NOW + 40, ["edge-1"]) == []
        assert identity.due(NOW + 51, ["edge-1"]) == ["edge-1"]
        credential = await identity.rotate("edge-1")
        assert (await identity.verify(old)).epoch == 1  # the agent may not have it yet
        assert not await identity.saved("edge-1", "some other expiry")
        assert await identity.saved("edge-1", credential.expiration_timestamp)
        with pytest.raises(Unauthenticated, match="revoked or replaced"):
            await identity.verify(old)
        assert (await identity.verify(credential.node_token)).epoch == 2

        await identity.revoke("edge-1")
        with pytest.raises(Unauthenticated, match="revoked or replaced"):
            await identity.verify(credential.node_token)

    asyncio.run(run())


def test_a_registered_name_needs_its_own_token_or_an_approval(tmp_path: Path) -> None:
    async def run() -> None:
        identity = make_identity(tmp_path)

        def admit(name: str, token: str, own: str | None = None, registered: bool = True):
            metadata = (("authorization", f"Bearer {own}"),) if own else ()
            return identity.admit(
                name=name, bootstrap_token=token, metadata=metadata, names=None,
                registered=registered,
            )  # fmt: skip

        await admit("edge-1", "the-bootstrap-token", registered=False)
        own, _ = await identity.issue("edge-1")
        with pytest.raises(Forbidden, match="already registered"):
            await admit("edge-1", "the-bootstrap-token")
        with pytest.raises(Unauthenticated):
            await admit("edge-2", "a wrong token", registered=False)
        await admit("edge-1", "", own=own)  # its own token

        await identity.approve("edge-1", 60)
        await admit("edge-1", "the-bootstrap-token")  # approved once...
        with pytest.raises(Forbidden, match="already registered"):
            await admit("edge-1", "the-bootstrap-token")  # ...and only once
        with pytest.raises(Unauthenticated):
            await admit("edge-1", "", own=own)  # the approval voided its old token

        # A Join whose answer was lost: the key was kept, the retry proves itself with it.
        key = "k" * 43
        await identity.keep_key("edge-5", key)
        await admit("edge-5", "the-bootstrap-token", registered=False)
        admission = await identity.admit(
            name="edge-5", bootstrap_token="the-bootstrap-token", metadata=(), names=None,
            registered=True, node_key=key,
        )  # fmt: skip
        assert admission.token_id == ""  # its own credential, not the join token
        with pytest.raises(Forbidden, match="already registered"):
            await identity.admit(
                name="edge-5", bootstrap_token="the-bootstrap-token", metadata=(), names=None,
                registered=True, node_key="g" * 43,
            )  # fmt: skip

        record, token = await identity.create_join_token(
            identity_pb2.CreateJoinTokenRequest(usages=1, labels={"pool": "a"}), "ops"
        )
        admission = await admit("edge-9", token, registered=False)
        assert admission.labels == {"pool": "a"} and admission.token_id == record.id
        with pytest.raises(Unauthenticated, match="used up"):
            await admit("edge-10", token, registered=False)
        assert [t.used for t in await identity.join_tokens()] == [1]

    asyncio.run(run())

"""Who is calling: API bearer tokens with roles, join tokens, node tokens.

No secret is kept in the clear: API tokens are held as SHA-256 hashes in
memory, join tokens as hashes in the store, and every comparison is of hashes
in constant time, so whatever string a caller sends (non-ASCII included) is at
worst a wrong token. Node tokens are HMACs, under a key read from a file (never
the store), of the node's name, its credential epoch and an expiry: revoking or
rotating a node's credential moves its epoch, and older epochs are refused.
Tokens are never logged.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import enum
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, SecretStr, TypeAdapter, ValidationError

from controlplane.errors import Forbidden, Invalid, Unauthenticated


class Role(enum.IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3


class ApiToken(BaseModel):
    name: str = Field(min_length=1)
    token: SecretStr = Field(min_length=16)
    role: str = Field(pattern="^(viewer|operator|admin)$")


def load_api_tokens(path: Path) -> list[ApiToken]:
    """Reads a YAML list of {name, token, role}; errors name the entry and field."""
    try:
        return TypeAdapter(list[ApiToken]).validate_python(yaml.safe_load(path.read_text()))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"{path}: [{where}]: {first['msg']}") from None


def new_token() -> str:
    return secrets.token_urlsafe(24)


def digest(secret: str) -> bytes:
    """SHA-256 of any string a caller may send, lone surrogates included."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def same_secret(given: str, known_digest: bytes) -> bool:
    return hmac.compare_digest(digest(given), known_digest)


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The bearer token, ASCII as every token this server issues: anything else is refused
    here, as UNAUTHENTICATED."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            if text.startswith("Bearer "):
                token = text.removeprefix("Bearer ").strip()
                if not token.isascii():
                    raise Unauthenticated("bearer token: not ASCII, so not a token of this server")
                return token
    return None


@dataclass
class Caller:
    """Who made the current call, for the audit log: filled in once it is authenticated."""

    name: str = ""


# Set per call by the audit interceptor (controlplane/server/audit.py); the API fills it in.
current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "current_caller", default=None
)


def note_caller(name: str) -> None:
    if (caller := current_caller.get()) is not None:
        caller.name = name


class Authenticator:
    """`api_tokens=None` means no tokens are configured: every caller is admin.

    The server allows that only on loopback, or off it with its loudly named
    flag (see server.config).
    """

    def __init__(self, *, api_tokens: list[ApiToken] | None) -> None:
        self._api = (
            None
            if api_tokens is None
            else [
                (digest(t.token.get_secret_value()), t.name, Role[t.role.upper()])
                for t in api_tokens
            ]
        )

    def authorize(self, metadata: Iterable[tuple[str, str | bytes]] | None, needed: Role) -> str:
        """Returns the caller's name; raises Unauthenticated or Forbidden."""
        if self._api is None:
            note_caller("anonymous")
            return "anonymous"
        token = bearer(metadata)
        if token is None:
            raise Unauthenticated("missing bearer token: set a token in your tpctl context")
        given = digest(token)
        # Every entry is compared, so the time taken does not say which one matched.
        matches = [
            (name, role) for known, name, role in self._api if hmac.compare_digest(known, given)
        ]
        if not matches:
            raise Unauthenticated("unknown bearer token")
        name, role = matches[0]
        note_caller(f"{name} ({role.name.lower()})")
        if role < needed:
            raise Forbidden(
                f"{name} has role {role.name.lower()}; this needs {needed.name.lower()}"
            )
        return name


# --- node tokens --------------------------------------------------------------------------

NODE_TOKEN_PREFIX = "tpn1"


@dataclass(frozen=True, slots=True)
class NodeClaims:
    """What a node token says: whose it is, of which credential epoch, and until when."""

    name: str
    epoch: int
    expires_unix_s: int


def rfc3339(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class NodeTokenSigner:
    """Mints and checks node tokens: "tpn1.<claims>.<HMAC-SHA256 of them>"."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the node-token signing key must be at least 32 bytes")
        self._key = key

    def _mac(self, payload: str) -> str:
        signed = f"{NODE_TOKEN_PREFIX}.{payload}".encode()
        return _b64(hmac.new(self._key, signed, hashlib.sha256).digest())

    def mint(self, claims: NodeClaims) -> str:
        payload = _b64(json.dumps([claims.name, claims.epoch, claims.expires_unix_s]).encode())
        return f"{NODE_TOKEN_PREFIX}.{payload}.{self._mac(payload)}"

    def verify(self, token: str, now_unix_s: float) -> NodeClaims:
        """The token's claims if this key signed it and it has not expired."""
        prefix, _, rest = token.partition(".")
        payload, _, mac = rest.partition(".")
        if prefix != NODE_TOKEN_PREFIX or not hmac.compare_digest(
            digest(mac), digest(self._mac(payload))
        ):
            raise Unauthenticated("invalid node token: Join again")
        try:
            name, epoch, expires = json.loads(_unb64(payload))
            claims = NodeClaims(str(name), int(epoch), int(expires))
        except (ValueError, TypeError, binascii.Error):
            raise Unauthenticated("invalid node token: Join again") from None
        if claims.expires_unix_s <= now_unix_s:
            raise Unauthenticated(
                f"the node token of {claims.name} expired at {rfc3339(claims.expires_unix_s)}"
            )
        return claims


# --- join tokens --------------------------------------------------------------------------

JOIN_TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_ALPHABET = string.ascii_lowercase + string.digits
# The id under which a configured --bootstrap-token-file's token (no limits) is reported.
BOOTSTRAP_TOKEN_ID = "bootstrap"


def new_join_token() -> tuple[str, str]:
    """A fresh (id, secret), kubeadm's format: "abcdef.0123456789abcdef"."""
    pick = secrets.choice
    return "".join(pick(_ALPHABET) for _ in range(6)), "".join(pick(_ALPHABET) for _ in range(16))


class JoinTokenRecord(BaseModel):
    """A join token as the store keeps it: the hash of its secret, never the secret."""

    id: str
    secret_sha256: str
    description: str = ""
    creation_timestamp: str
    expires_unix_s: float | None = None
    usages: int = Field(default=0, ge=0)
    used: int = Field(default=0, ge=0)
    name_pattern: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    created_by: str = ""


def check_join_token(
    record: JoinTokenRecord, secret: str, node_name: str, now_unix_s: float
) -> None:
    """Raises Unauthenticated for a wrong secret, Forbidden for a token this Join exceeds."""
    if not same_secret(secret, bytes.fromhex(record.secret_sha256)):
        raise Unauthenticated("invalid bootstrap token")
    if record.expires_unix_s is not None and record.expires_unix_s <= now_unix_s:
        raise Unauthenticated(f"join token {record.id} expired at {rfc3339(record.expires_unix_s)}")
    if record.usages and record.used >= record.usages:
        raise Unauthenticated(f"join token {record.id} is used up ({record.usages} joins)")
    if record.name_pattern and re.fullmatch(record.name_pattern, node_name) is None:
        raise Forbidden(
            f"node {node_name}: join token {record.id} registers only names matching "
            f"{record.name_pattern!r}"
        )

"""Who is calling: API bearer tokens with roles, the bootstrap token, node tokens.

Node tokens are HMACs of the node name under a key kept in the store, so every
control-plane replica can verify them and a node can speak only for itself.
Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable
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


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The bearer token, ASCII as every token this server issues: anything else is refused
    here, as UNAUTHENTICATED, before a constant-time comparison (which takes ASCII only)."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            if text.startswith("Bearer "):
                token = text.removeprefix("Bearer ").strip()
                if not token.isascii():
                    raise Unauthenticated("bearer token: not ASCII, so not a token of this server")
                return token
    return None


class Authenticator:
    """`api_tokens=None` means no tokens are configured: every caller is admin.

    The server allows that only when it listens on loopback (see server.main).
    """

    def __init__(
        self, *, api_tokens: list[ApiToken] | None, bootstrap_token: str, node_key: bytes
    ) -> None:
        self._api = (
            None
            if api_tokens is None
            else {t.token.get_secret_value(): (t.name, Role[t.role.upper()]) for t in api_tokens}
        )
        self._bootstrap = bootstrap_token.encode()
        self._node_key = node_key

    def authorize(self, metadata: Iterable[tuple[str, str | bytes]] | None, needed: Role) -> str:
        """Returns the caller's name; raises Unauthenticated or Forbidden."""
        if self._api is None:
            return "anonymous"
        token = bearer(metadata)
        if token is None:
            raise Unauthenticated("missing bearer token: set a token in your tpctl context")
        identity = next(
            (who for known, who in self._api.items() if hmac.compare_digest(known, token)), None
        )
        if identity is None:
            raise Unauthenticated("unknown bearer token")
        name, role = identity
        if role < needed:
            raise Forbidden(
                f"{name} has role {role.name.lower()}; this needs {needed.name.lower()}"
            )
        return name

    def check_bootstrap(self, token: str) -> None:
        if not hmac.compare_digest(token.encode(), self._bootstrap):
            raise Unauthenticated("invalid bootstrap token")

    def node_token(self, node_name: str) -> str:
        mac = hmac.new(self._node_key, node_name.encode(), hashlib.sha256).hexdigest()
        return f"{node_name}:{mac}"

    def node_of(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
        """The node a Connect call may speak for, from its node token."""
        token = bearer(metadata)
        if token is None or ":" not in token:
            raise Unauthenticated("missing node token: Join first")
        name = token.split(":", 1)[0]
        if not hmac.compare_digest(token, self.node_token(name)):
            raise Unauthenticated("invalid node token")
        return name

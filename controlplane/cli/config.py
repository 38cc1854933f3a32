"""Where tpctl connects and as whom: contexts in a config file, kubeconfig-like.

The file (default `~/.config/tokenplane/config.yaml`, or `$TPCTL_CONFIG`) holds
named contexts, each a server address with its TLS files and token, and the
current one. Flags beat environment variables, which beat the context:

    --context / TPCTL_CONTEXT   which context (default: currentContext)
    --server  / TOKENPLANE_SERVER
    --token   / TOKENPLANE_TOKEN

Plaintext is used only where it cannot leak a token: on loopback, or when the
context says `insecure: true`; anything else speaks TLS.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from controlplane.address import is_loopback
from controlplane.cli.errors import CliError
from controlplane.cli.settings import Globals

DEFAULT_SERVER = "127.0.0.1:7070"


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "tokenplane" / "config.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Context(_Model):
    name: str = Field(min_length=1)
    server: str = Field(min_length=1)
    token: str | None = None
    token_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_server_name: str | None = None
    insecure: bool = False
    state_dir: Path | None = None  # a local fleet's state dir, set by tpctl up for down/report


class Config(_Model):
    api_version: str = "tokenplane.io/v1"
    kind: str = "Config"
    current_context: str = ""
    contexts: list[Context] = Field(default_factory=list)

    def find(self, name: str) -> Context | None:
        return next((c for c in self.contexts if c.name == name), None)


def load(path: Path) -> Config:
    """An absent file is an empty config; a bad one is an error naming the file and field."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Config()
    except OSError as e:
        raise CliError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        return Config.model_validate(yaml.safe_load(text) or {})
    except yaml.YAMLError as e:
        raise CliError(f"config file {path} is not valid YAML: {e}") from None
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise CliError(f"config file {path}: {problems}") from None


def save(config: Config, path: Path) -> None:
    """Written owner-only (contexts may hold tokens) and atomically: a temporary file in the
    same directory, flushed to disk, then renamed over the old one, so that a crash or a
    second tpctl writing at the same time never leaves a half-written config."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(
        config.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:  # mkstemp creates it 0600
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved connection: everything client.py needs, and where it came from."""

    server: str
    origin: str  # how the address was chosen, for error messages
    context: str | None
    token: str | None
    tls: bool
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_server_name: str | None = None


def _token(context: Context) -> str | None:
    if context.token:
        return context.token
    if context.token_file is None:
        return None
    path = context.token_file.expanduser()
    try:
        return path.read_text().strip()
    except OSError as e:
        raise CliError(
            f'context "{context.name}": cannot read tokenFile {path}: {e.strerror}'
        ) from None


def resolve(settings: Globals) -> Target:
    path = settings.config_file or default_config_path()
    config = load(path)
    name = settings.context or config.current_context
    context = config.find(name) if name else None
    if name and context is None:
        known = ", ".join(c.name for c in config.contexts) or "none"
        raise CliError(
            f'context "{name}" is not in {path} (contexts: {known}); '
            "create it with: tpctl config set-context NAME --server HOST:PORT"
        )
    if settings.server:
        server, origin = settings.server, settings.server_source
    elif context is not None:
        server, origin = context.server, f'context "{context.name}" in {path}'
    else:
        server, origin = DEFAULT_SERVER, f"the default (no context in {path})"
    files = (context.ca_file, context.cert_file, context.key_file) if context else (None,) * 3
    insecure = context.insecure if context else False
    tls = any(files) or not (insecure or is_loopback(server))
    return Target(
        server=server,
        origin=origin,
        context=context.name if context else None,
        token=settings.token or (_token(context) if context else None),
        tls=tls,
        ca_file=files[0],
        cert_file=files[1],
        key_file=files[2],
        tls_server_name=context.tls_server_name if context else None,
    )

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

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.address import is_loopback
from controlplane.cli.errors import CliError
from controlplane.cli.settings import Globals

DEFAULT_SERVER = "127.0.0.1:7070"


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "tokenplane" / "config.yaml"


_PATHS = ("token_file", "ca_file", "cert_file", "key_file", "state_dir")
_STRINGS = ("token", "tls_server_name")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


@dataclass(slots=True)
class Context:
    """A named server with its TLS files and token; camelCase in the file, as kubeconfig.

    Plain dataclasses, checked by hand: pydantic would cost every tpctl command 0.1 s.
    """

    name: str
    server: str
    token: str | None = None
    token_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_server_name: str | None = None
    insecure: bool = False
    state_dir: Path | None = None  # a local fleet's state dir, set by tpctl up for down/report

    @classmethod
    def parse(cls, data: object, where: str, problems: list[str]) -> Context | None:
        """A context from the file, or None with `problems` naming each bad field."""
        if not isinstance(data, dict):
            problems.append(f"{where}: must be a mapping")
            return None
        fields_ = {_camel(f.name): f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = fields_.get(key) or (key if key in fields_.values() else None)
            if name is None:
                problems.append(f"{where}.{key}: Extra inputs are not permitted")
            elif name == "insecure":
                if not isinstance(value, bool):
                    problems.append(f"{where}.{key}: Input should be a valid boolean")
                values[name] = bool(value)
            elif value is None:
                values[name] = None
            elif not isinstance(value, str | int | float) or isinstance(value, bool):
                problems.append(f"{where}.{key}: Input should be a valid string")
            else:
                values[name] = Path(str(value)) if name in _PATHS else str(value)
        for required in ("name", "server"):
            if not values.get(required):
                problems.append(f"{where}.{required}: Field required (a non-empty string)")
        if any(p.startswith(where + ".") for p in problems):
            return None
        return cls(**values)

    def to_data(self) -> dict[str, Any]:
        """camelCase, None fields left out, as written to the file."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[_camel(f.name)] = str(value) if isinstance(value, Path) else value
        return out


@dataclass(slots=True)
class Config:
    api_version: str = "tokenplane.io/v1"
    kind: str = "Config"
    current_context: str = ""
    contexts: list[Context] = field(default_factory=list)

    def find(self, name: str) -> Context | None:
        return next((c for c in self.contexts if c.name == name), None)

    @classmethod
    def parse(cls, data: object) -> Config:
        """Raises ValueError naming every bad field."""
        if not isinstance(data, dict):
            raise ValueError("the file must hold a mapping")
        problems: list[str] = []
        known = {"apiVersion", "kind", "currentContext", "contexts"}
        problems += [f"{k}: Extra inputs are not permitted" for k in data if k not in known]
        raw = data.get("contexts") or []
        if not isinstance(raw, list):
            problems.append("contexts: Input should be a valid list")
            raw = []
        contexts = [Context.parse(c, f"contexts.{i}", problems) for i, c in enumerate(raw)]
        if problems:
            raise ValueError("; ".join(problems))
        return cls(
            api_version=str(data.get("apiVersion", "tokenplane.io/v1")),
            kind=str(data.get("kind", "Config")),
            current_context=str(data.get("currentContext") or ""),
            contexts=[c for c in contexts if c is not None],
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "currentContext": self.current_context,
            "contexts": [c.to_data() for c in self.contexts],
        }


def load(path: Path) -> Config:
    """An absent file is an empty config; a bad one is an error naming the file and field."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Config()
    except OSError as e:
        raise CliError(f"cannot read config file {path}: {e.strerror}") from None
    import yaml

    try:
        return Config.parse(yaml.safe_load(text) or {})
    except yaml.YAMLError as e:
        raise CliError(f"config file {path} is not valid YAML: {e}") from None
    except ValueError as e:
        raise CliError(f"config file {path}: {e}") from None


def save(config: Config, path: Path) -> None:
    """Written owner-only (contexts may hold tokens) and atomically: a temporary file in the
    same directory, flushed to disk, then renamed over the old one, so that a crash or a
    second tpctl writing at the same time never leaves a half-written config."""
    path.parent.mkdir(parents=True, exist_ok=True)
    import yaml

    text = yaml.safe_dump(config.to_data(), sort_keys=False)
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

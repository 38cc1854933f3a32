"""The control plane's state store: one interface, an embedded and an etcd backend.

Everything above this package sees only `Store` (base.py) and picks a backend
by URL, so a single machine runs on one SQLite file and a highly available
deployment on etcd with the same code:

    sqlite:///abs/path.db, sqlite://relative.db     embedded, one process
    etcd://host:port[,host:port...]                 plaintext, loopback only by default
    etcds://host:port[,host:port...]                TLS; needs tls=EtcdTLS(...)

Backends are imported when chosen, so the SQLite path never loads gRPC.
"""

from __future__ import annotations

import ipaddress

from controlplane.address import is_loopback_host
from controlplane.store.base import (
    Compacted,
    Conflict,
    EtcdTLS,
    EventType,
    KeyEvent,
    KeyValue,
    LeaseNotFound,
    Store,
    StoreError,
    StoreUnavailable,
    TooLarge,
)

__all__ = [
    "Compacted",
    "Conflict",
    "EtcdTLS",
    "EventType",
    "KeyEvent",
    "KeyValue",
    "LeaseNotFound",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TooLarge",
    "open_store",
]

_SCHEMES = "sqlite://, etcd:// or etcds://"


def open_store(url: str, *, tls: EtcdTLS | None = None, allow_insecure: bool = False) -> Store:
    """The store a URL names (see the module docstring); ValueError saying what is wrong.

    With `tls`, etcd is reached over TLS whatever the scheme. Plaintext etcd on
    a non-loopback host is refused unless `allow_insecure`.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"the store URL has no scheme: expected {_SCHEMES}")
    if scheme == "sqlite":
        if tls is not None:
            raise ValueError("tls applies to etcd stores only, not to sqlite://")
        from controlplane.store.sqlite import SqliteStore

        return SqliteStore(_sqlite_path(rest))
    if scheme in ("etcd", "etcds"):
        endpoints = _etcd_endpoints(rest)
        if scheme == "etcds" and tls is None:
            raise ValueError("etcds:// needs tls=EtcdTLS(ca_file=...)")
        if tls is None and not allow_insecure:
            remote = [e for e in endpoints if not is_loopback_host(_host(e))]
            if remote:
                raise ValueError(
                    f"refusing plaintext etcd to non-loopback {', '.join(remote)}: "
                    "use etcds:// with tls=EtcdTLS(...), or allow_insecure=True"
                )
        from controlplane.store.etcd import EtcdStore

        return EtcdStore(endpoints, tls=tls)
    raise ValueError(f"unknown store URL scheme {scheme!r}: expected {_SCHEMES}")


def _sqlite_path(rest: str) -> str:
    if "?" in rest or "#" in rest:
        raise ValueError("sqlite:// URLs take no query or fragment, only a file path")
    if rest in ("", "/"):
        raise ValueError("sqlite:// URL has no file path: use sqlite:///abs/path.db")
    return rest


def _etcd_endpoints(rest: str) -> list[str]:
    if "@" in rest:
        raise ValueError("etcd URLs must not carry credentials; use tls=EtcdTLS(...) for mTLS")
    if "?" in rest or "#" in rest:
        raise ValueError("etcd:// URLs take no query or fragment, only host:port endpoints")
    rest = rest.removesuffix("/")
    if "/" in rest:
        raise ValueError(f"etcd:// URLs take no path: {rest!r}")
    endpoints = [endpoint.strip() for endpoint in rest.split(",")]
    for endpoint in endpoints:
        _check_endpoint(endpoint)
    return endpoints


def _host(endpoint: str) -> str:
    return endpoint.rpartition(":")[0].removeprefix("[").removesuffix("]")


def _check_endpoint(endpoint: str) -> None:
    if not endpoint:
        raise ValueError("etcd:// URL has an empty endpoint: expected host:port[,host:port...]")
    host, colon, port = endpoint.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"etcd endpoint {endpoint!r} is not host:port with a port 1-65535")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"etcd endpoint {endpoint!r}: IPv6 address without closing ']'")
        ipaddress.IPv6Address(host[1:-1])  # ValueError names the bad address
    elif ":" in host:
        raise ValueError(f"etcd endpoint {endpoint!r}: write IPv6 addresses as [addr]:port")

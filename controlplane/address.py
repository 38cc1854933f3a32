"""Is an address loopback? The one question behind "plaintext only on loopback".

Shared by the server, the agent, tpctl and the etcd store, which all refuse
plaintext to anything else unless told otherwise.
"""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def is_loopback(address: str) -> bool:
    """For "host:port", "[::1]:port", a bare host, or a gRPC "ipv4:a:p,b:p" list (all must be)."""
    if address.startswith(("ipv4:", "ipv6:")):
        return all(is_loopback(a) for a in address.split(":", 1)[1].split(","))
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or (host.count(":") and not host.startswith("[")):
        host = address  # no port: a bare host (or a bare IPv6 address)
    return is_loopback_host(host)

"""Loopback or not: the check behind every plaintext refusal."""

from __future__ import annotations

import pytest

from controlplane.address import is_loopback


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:7070", True),
        ("localhost:7070", True),
        ("[::1]:7070", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("ipv4:127.0.0.1:1,127.0.0.2:2", True),
        ("0.0.0.0:7070", False),
        ("10.0.0.5:7070", False),
        ("cp.example.net:7070", False),
        ("[2001:db8::1]:7070", False),
        ("ipv4:127.0.0.1:1,10.0.0.1:2", False),
        ("", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback

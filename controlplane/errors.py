"""Errors of the control plane's core, each with the gRPC status it maps to.

The core raises these; the API layer turns them into status codes in one place
(controlplane/api/status.py), so that no servicer picks codes by hand.
"""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Base: the message is shown to the user as is."""


# The most of a client's input an error message repeats: a 70 KB name echoed back would
# exceed the client's metadata limit and hide the error itself.
MAX_ECHO_CHARS = 200


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """`text` as an error message may quote it: at most `limit` characters, and says so."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class NotFound(ControlPlaneError):
    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f'{kind} "{clip(name)}" not found')


class AlreadyExists(ControlPlaneError):
    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f'{kind} "{clip(name)}" already exists')


class StaleVersion(ControlPlaneError):
    """An update named a resourceVersion that is no longer current."""

    def __init__(self, kind: str, name: str, given: str, current: str) -> None:
        super().__init__(
            f'{kind} "{name}" was modified: resourceVersion {given} is stale (now {current}); '
            "get the object again and re-apply your change"
        )


class Invalid(ControlPlaneError):
    """A request that names a bad field; the message says which and why."""


class OutOfRange(ControlPlaneError):
    """A position past what exists or is kept, e.g. a watch from compacted history."""


class Exhausted(ControlPlaneError):
    """A request beyond a limit: an object too large, too many GPU models."""


class Unauthenticated(ControlPlaneError):
    pass


class Forbidden(ControlPlaneError):
    pass


class Timeout(ControlPlaneError):
    """An operation the caller waits for did not finish in the time given."""

"""List in pages, as Kubernetes' `limit` and `continue`: no reply exceeds the message limit.

A page holds at most `limit` items (0: no count limit) and, whatever the limit, at
most PAGE_BYTES of them, so that a kind with many or large objects is still listed
(a reply over the 4 MiB message limit would fail for every caller). The continue
token is opaque to clients: base64 of the kind, the last name sent and the
revision of the first page. Later pages list the objects after that name as they
are now, and report the first page's revision, so that a client that watches from
it (List-then-Watch) misses no change; it may see a change twice, which watchers
apply idempotently.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message

from controlplane.errors import Invalid

T = TypeVar("T")
M = TypeVar("M", bound=Message)

# Half the server's 4 MiB message limit: room for the header, and for one object
# (at most 1 MiB stored) grown by its live status.
PAGE_BYTES = 2 * 1024 * 1024
_PER_ITEM_OVERHEAD_BYTES = 6  # a repeated field's tag and length


@dataclass(frozen=True, slots=True)
class Continue:
    """Where a page ends: the next page starts after `after`, reports `revision`."""

    kind: str
    after: str
    revision: int

    def token(self) -> str:
        data = json.dumps({"k": self.kind, "a": self.after, "r": self.revision})
        return base64.urlsafe_b64encode(data.encode()).decode()


def parse_continue(token: str, kind: str) -> Continue | None:
    """The position a continue token names; None for the first page. Invalid if it is
    not a token of this server's List of `kind`."""
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        position = Continue(str(data["k"]), str(data["a"]), int(data["r"]))
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        raise Invalid(
            "continue: not a token from a List of this server; list again without it"
        ) from None
    if position.kind != kind:
        raise Invalid(f"continue: the token continues a List of {position.kind}, not {kind}")
    return position


def page(
    items: Sequence[T],
    render: Callable[[T], M],
    *,
    limit: int,
    max_bytes: int = PAGE_BYTES,
) -> list[M]:
    """The first items, rendered, up to `limit` (0: any number) and `max_bytes` in all;
    always at least one, so that a list always moves on."""
    rendered: list[M] = []
    total = 0
    for item in items:
        if limit and len(rendered) >= limit:
            break
        message = render(item)
        size = message.ByteSize() + _PER_ITEM_OVERHEAD_BYTES
        if rendered and total + size > max_bytes:
            break
        rendered.append(message)
        total += size
    return rendered


__all__ = ["PAGE_BYTES", "Continue", "page", "parse_continue"]

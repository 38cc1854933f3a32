"""Checks on a request's fields that the resource models do not cover, naming the field.

Each refuses a client's mistake (or an attacker's probe) with a ControlPlaneError that
names the field and quotes at most a little of the input, before any work is done.
"""

from __future__ import annotations

import re

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from controlplane.errors import Exhausted, Invalid, clip
from controlplane.resources.limits import MAX_NAME_CHARS, MAX_OBJECT_BYTES

# etcd's revisions are int64; a resourceVersion is one, in decimal.
MAX_REVISION = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def revision_of(text: str, field: str = "resourceVersion", *, minimum: int = 0) -> int:
    """A resourceVersion the client sent, as the store's revision: Invalid if it is none."""
    if not _DIGITS.fullmatch(text) or not minimum <= int(text) <= MAX_REVISION:
        raise Invalid(
            f"{field}: {clip(text)!r} is not a resourceVersion (a whole number from "
            f"{minimum} to {MAX_REVISION}, as a List or Get returned it)"
        )
    return int(text)


def check_name(name: str, field: str = "name") -> None:
    """An object name a Get or Delete may look up: a lookup of a 70 KB name is a probe."""
    if not name:
        raise Invalid(f"{field}: required")
    if len(name) > MAX_NAME_CHARS:
        raise Invalid(
            f"{field}: {len(name)} characters; an object name has at most {MAX_NAME_CHARS}"
        )


def _scalar_size(value: object) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 8


def largest_field(message: Message, path: str = "") -> str:
    """The path of the field that makes `message` large: the biggest at each level."""
    while True:
        best: tuple[int, str, Message | None] = (-1, path or "(the object)", None)
        for field, value in message.ListFields():
            name = f"{path}.{field.json_name}" if path else field.json_name
            candidate: tuple[int, str, Message | None]
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                size = sum(_scalar_size(k) + len(str(v)) for k, v in value.items())
                candidate = (size, name, None)
            elif field.type != FieldDescriptor.TYPE_MESSAGE:
                repeated = field.is_repeated
                size = sum(map(_scalar_size, value)) if repeated else _scalar_size(value)
                candidate = (size, name, None)
            elif field.is_repeated:
                # The list as a whole, unless one item makes most of it.
                total = sum(item.ByteSize() for item in value)
                size, index = max((item.ByteSize(), i) for i, item in enumerate(value))
                candidate = (
                    (size, f"{name}[{index}]", value[index])
                    if size * 2 > total
                    else (total, name, None)
                )
            else:
                candidate = (value.ByteSize(), name, value)
            if candidate[0] > best[0]:
                best = candidate
        if best[2] is None:
            return best[1]
        path, message = best[1], best[2]


def check_size(message: Message, kind: str, name: str) -> None:
    """Refuses an object over MAX_OBJECT_BYTES on the wire, naming its largest field."""
    size = message.ByteSize()
    if size > MAX_OBJECT_BYTES:
        raise Exhausted(
            f'{kind} "{clip(name)}": {size:,} bytes, over the limit of {MAX_OBJECT_BYTES:,} '
            f"(1 MiB) for an object; the largest field is {largest_field(message)}"
        )


__all__ = ["MAX_REVISION", "check_name", "check_size", "largest_field", "revision_of"]

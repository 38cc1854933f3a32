"""Bounds on what one object may hold, as Kubernetes bounds its own (checked at apply).

Every object is read whole by every List and Watch of its kind, and stored as one
key: without bounds, one careless or hostile manifest makes every reply of its
kind exceed the message limit, or its store write exceed etcd's request limit.
"""

from __future__ import annotations

from typing import Final

# An object as stored (JSON); etcd's default request limit is 1.5 MiB.
MAX_OBJECT_BYTES: Final = 1024 * 1024
# A DNS-1123 subdomain, as Kubernetes requires of object names.
MAX_NAME_CHARS: Final = 253
MAX_LABELS: Final = 64
# A label key: an optional DNS-subdomain prefix and "/", then a name of at most 63.
MAX_LABEL_KEY_CHARS: Final = 253 + 1 + 63
MAX_LABEL_VALUE_CHARS: Final = 253
# All annotations of one object together, keys and values (Kubernetes: 256 KiB).
MAX_ANNOTATION_BYTES: Final = 256 * 1024
# Distinct GPU models one node may have: each is a column of the live inventory.
MAX_GPU_MODELS_PER_NODE: Final = 16
# A GPU count: the inventory's columns are int32.
MAX_GPU_COUNT: Final = 2**31 - 1

"""Node credentials kept on disk, so that a restarted agent speaks as its node again.

A join token registers new node names only: a node that is already registered
re-joins with its own credential. Per node, the file keeps the node token and a
node key, a secret the agent makes before its first Join and sends with every
Join: the server keeps its hash, so a Join retried after its answer was lost
(or after the token expired) is still the node's own. One JSON file,
{"nodes": {name: {"token": ..., "key": ...}}}, made 0600 and replaced atomically
(write, fsync, rename), so a crash leaves the old file or the new one. The
server rotates a token before it expires; the agent saves the new one here
before it tells the server so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


class NodeTokens:
    """Credentials by node name; `flush_delay_s` batches the writes of a hollow fleet's joins."""

    def __init__(self, path: Path | None, *, flush_delay_s: float = 0.0) -> None:
        self.path = path
        self._flush_delay_s = flush_delay_s
        self._nodes: dict[str, dict[str, str]] = {}
        self._flush: asyncio.TimerHandle | None = None
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                log.warning("%s: unreadable (%s): nodes join afresh", path, e)
            else:
                nodes = loaded.get("nodes") if isinstance(loaded, dict) else None
                if isinstance(nodes, dict):
                    self._nodes = {
                        str(name): {str(k): str(v) for k, v in entry.items()}
                        for name, entry in nodes.items()
                        if isinstance(entry, dict)
                    }

    def get(self, node: str) -> str | None:
        return self._nodes.get(node, {}).get("token")

    def key(self, node: str) -> str:
        """The node's key, made (and kept) the first time it is asked for."""
        entry = self._nodes.setdefault(node, {})
        if "key" not in entry:
            entry["key"] = secrets.token_urlsafe(32)
            self._changed()
        return entry["key"]

    def save(self, node: str, token: str) -> None:
        self._nodes.setdefault(node, {})["token"] = token
        self._changed()

    def _changed(self) -> None:
        if self.path is None:
            return
        if self._flush_delay_s <= 0:
            self.write()
        elif self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self._flush_delay_s, self.write)

    def write(self) -> None:
        self._flush = None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"nodes": self._nodes}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)

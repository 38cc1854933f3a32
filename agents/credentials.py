"""Node tokens kept on disk, so that a restarted agent speaks as its node again.

A join token registers new node names only: a node that is already registered
re-joins with its own node token. The tokens live in one JSON file, {node name:
token}, made 0600 and replaced atomically (write, fsync, rename), so a crash
leaves the old file or the new one. The server rotates a token before it
expires; the agent saves the new one here before it tells the server so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class NodeTokens:
    """Tokens by node name; `flush_delay_s` batches the writes of a hollow fleet's joins."""

    def __init__(self, path: Path | None, *, flush_delay_s: float = 0.0) -> None:
        self.path = path
        self._flush_delay_s = flush_delay_s
        self._tokens: dict[str, str] = {}
        self._flush: asyncio.TimerHandle | None = None
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                log.warning("%s: unreadable (%s): nodes join afresh", path, e)
            else:
                if isinstance(loaded, dict):
                    self._tokens = {str(k): str(v) for k, v in loaded.items()}

    def get(self, node: str) -> str | None:
        return self._tokens.get(node)

    def save(self, node: str, token: str) -> None:
        self._tokens[node] = token
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
            json.dump(self._tokens, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)

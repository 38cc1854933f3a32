"""What the global flags and the environment asked for: the root context's `obj`.

A leaf module (click only), so that params.py, config.py and client.py can all
read the settings without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

DEFAULT_REQUEST_TIMEOUT_S = 30.0


@dataclass
class Globals:
    """The root context's `obj`: what the global flags and environment asked for."""

    context: str | None = None
    server: str | None = None
    server_source: str = ""  # "--server" or "TOKENPLANE_SERVER", for error messages
    token: str | None = None
    config_file: Path | None = None
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S


def globals_of(ctx: click.Context) -> Globals:
    return ctx.find_root().ensure_object(Globals)

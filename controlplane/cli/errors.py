"""The one error type commands raise: a message a person can act on, and exit code 1.

Usage errors (exit 2) stay click's own `UsageError`/`BadParameter`; everything
else a command cannot do becomes a `CliError`, printed once, without a traceback:
`Error from server (Reason): ...` when the server refused, `error: ...` otherwise.
"""

from __future__ import annotations

from typing import IO, Any

import click


class CliError(click.ClickException):
    exit_code = 1

    def __init__(self, detail: str, *, reason: str = "") -> None:
        self.detail = detail
        self.reason = reason  # the server's reason ("NotFound", "Conflict"); "" for local errors
        prefix = f"Error from server ({reason})" if reason else "error"
        super().__init__(f"{prefix}: {detail}")

    def within(self, where: str) -> CliError:
        """The same error, saying which file or object it is about."""
        return CliError(f"{where}: {self.detail}", reason=self.reason)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True)

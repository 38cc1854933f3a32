"""Logging for the server and the agent: JSON lines an SRE can query, or text for people.

Every line carries an RFC 3339 UTC timestamp (`2026-12-02T17:40:53.471Z`), its level,
its logger, and the trace and span IDs of the OpenTelemetry span it was written in, so
a log line leads to its trace. Structured fields are given with `extra={...}` and land
as top-level JSON keys. Secrets never reach the output: every line is scrubbed of the
values registered with `redact()` (tokens, keys), of bearer credentials and of PEM
private keys, whoever wrote it and however (message, arguments, exception text).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

REDACTED = "[REDACTED]"
_PATTERNS = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        REDACTED,
    ),
)
_MIN_SECRET_CHARS = 8  # shorter values would scrub ordinary words
_secrets: set[str] = set()
_lock = threading.Lock()


def redact(*values: str | None) -> None:
    """Registers secret values (tokens, keys): from now on no log line shows them."""
    with _lock:
        _secrets.update(v.strip() for v in values if v and len(v.strip()) >= _MIN_SECRET_CHARS)


def scrub(text: str) -> str:
    """`text` without registered secrets, bearer credentials or PEM private keys."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def rfc3339_utc(created_s: float) -> str:
    """A record's time as RFC 3339 in UTC with milliseconds: 2026-12-02T17:40:53.471Z."""
    stamp = datetime.fromtimestamp(created_s, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _trace_ids() -> dict[str, str]:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


class TraceContext(logging.Filter):
    """Stamps each record with the current span's IDs (read in the writer's context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _trace_ids().items():
            setattr(record, key, value)
        return True


class JsonLines(JsonFormatter):
    """One JSON object a line: ts, level, logger, msg, trace_id/span_id, then the extras."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "message": "msg"},
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["ts"] = rfc3339_utc(record.created)
        super().add_fields(log_data, record, message_dict)
        log_data["level"] = record.levelname.lower()

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class TextLines(logging.Formatter):
    """`2026-12-02T17:40:53.471Z INFO logger: message key=value` for a terminal."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message",
        "asctime",
        "trace_id",
        "span_id",
    }

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in self._STANDARD)
        line = f"{rfc3339_utc(record.created)} {record.levelname} {record.name}: "
        line += record.getMessage() + (f" {extras}" if extras else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return scrub(line)


def setup_logging(level: str, fmt: str, *, stream: Any = None) -> None:
    """Routes all logging (ours and the libraries') to stderr as JSON or text lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else TextLines())
    handler.addFilter(TraceContext())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)

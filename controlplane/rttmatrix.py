"""The operator's RTT matrix: measured round trips from nodes or regions to landmarks.

`--rtt-matrix FILE_OR_URL` takes CSV with a header (columns `source`,
`target`, `rtt_ms`, in any order; other columns are ignored, `#` starts a
comment line):

    source,target,rtt_ms
    factory-paris,eu-central-1,11.2
    europe,us-east-1,82

or JSON: a list of `{"source", "target", "rttMs"}` objects, or a mapping
`{source: {target: rtt_ms}}`. A source is a node name, or a region name that
applies to every node whose `spec.location.region` equals it (a node's own
rows win over its region's); a target must be a landmark of the server's
region table (`--regions`), by name, alias or zone (`gcp:europe-west1-b`).
A pair given more than once (several zones, several runs) keeps its least
RTT, since queueing only ever adds delay. Every bad row is reported, each
naming its line. docs/latency.md describes the whole flow.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controlplane.regions import resolve

log = logging.getLogger(__name__)

MAX_RTT_MS = 60_000.0
MAX_PROBLEMS_SHOWN = 20
MAX_MATRIX_BYTES = 64 << 20
FILE_CHECK_S = 5.0  # a file is re-read when its modification time changes
_RTT_COLUMNS = ("rtt_ms", "rttms", "rtt")


class MatrixError(ValueError):
    """A matrix that cannot be used; one line per bad row."""


@dataclass(frozen=True)
class RttMatrix:
    """source (node or region name) -> {landmark name: RTT ms}."""

    by_source: dict[str, dict[str, float]] = field(default_factory=dict)
    origin: str = ""  # where it came from, for logs and `describe`

    def __len__(self) -> int:
        return sum(len(row) for row in self.by_source.values())


class _Rows:
    """Collects rows and problems, checking each row the same way whatever the format."""

    def __init__(self, source: str, landmarks: Mapping[str, str]) -> None:
        self.source = source
        self.landmarks = landmarks
        self.by_source: dict[str, dict[str, float]] = {}
        self.problems: list[str] = []

    def add(self, where: str, source: Any, target: Any, rtt_ms: Any) -> None:
        at = f"{self.source}:{where}"
        if not isinstance(source, str) or not source.strip():
            self.problems.append(f"{at}: source: required (a node or region name)")
            return
        if not isinstance(target, str) or not target.strip():
            self.problems.append(f"{at}: target: required (a landmark name)")
            return
        source, target = source.strip(), target.strip()
        landmark = resolve(target, self.landmarks)
        if landmark is None:
            self.problems.append(
                f"{at}: target: {target!r} is not a known landmark "
                "(a region of the server's table; add it with --regions)"
            )
            return
        try:
            value = float(rtt_ms)
        except (TypeError, ValueError):
            self.problems.append(f"{at}: rtt_ms: {rtt_ms!r} is not a number")
            return
        if not math.isfinite(value) or not 0 <= value <= MAX_RTT_MS:
            self.problems.append(f"{at}: rtt_ms: {rtt_ms!r} is not within 0-{MAX_RTT_MS:.0f} ms")
            return
        source = resolve(source, self.landmarks) or source  # a region named by an alias
        row = self.by_source.setdefault(source, {})
        row[landmark] = min(value, row.get(landmark, value))  # repeats: queues only add delay

    def result(self, origin: str) -> RttMatrix:
        if self.problems:
            shown = self.problems[:MAX_PROBLEMS_SHOWN]
            if len(self.problems) > len(shown):
                shown.append(f"... and {len(self.problems) - len(shown)} more")
            raise MatrixError("\n".join(shown))
        return RttMatrix(self.by_source, origin)


def _csv(text: str, rows: _Rows) -> None:
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines())]
    lines = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return
    header_line, header = lines[0]
    columns = [c.strip().lower().replace("-", "_") for c in next(csv.reader([header]))]
    rtt_column = next((c for c in _RTT_COLUMNS if c in columns), None)
    missing = [c for c in ("source", "target") if c not in columns]
    if rtt_column is None:
        missing.append("rtt_ms")
    if missing:
        raise MatrixError(
            f"{rows.source}:{header_line}: header: no column {', '.join(missing)} "
            f"(expected source,target,rtt_ms; got {header.strip()!r})"
        )
    assert rtt_column is not None
    index = {c: columns.index(c) for c in ("source", "target", rtt_column)}
    numbers = [n for n, _ in lines[1:]]
    parsed = csv.reader(io.StringIO("\n".join(line for _, line in lines[1:])))
    for number, values in zip(numbers, parsed, strict=False):
        if len(values) < len(columns):
            rows.problems.append(
                f"{rows.source}:{number}: expected {len(columns)} columns, got {len(values)}"
            )
            continue
        rows.add(
            str(number),
            values[index["source"]],
            values[index["target"]],
            values[index[rtt_column]],
        )


def _item_lines(text: str) -> list[int]:
    """Line of each item of a top-level JSON list (JSON parses as YAML's flow style)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in root.value]


def _json(text: str, rows: _Rows) -> None:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise MatrixError(f"{rows.source}:{e.lineno}: invalid JSON: {e.msg}") from None
    if isinstance(doc, dict):
        for source, targets in doc.items():
            if not isinstance(targets, dict):
                rows.problems.append(
                    f"{rows.source}: {source}: expected a mapping of target to rtt_ms, "
                    f"got {type(targets).__name__}"
                )
                continue
            for target, rtt_ms in targets.items():
                rows.add(f"{source}.{target}", source, target, rtt_ms)
        return
    if not isinstance(doc, list):
        raise MatrixError(
            f"{rows.source}: expected a JSON list of {{source, target, rttMs}} "
            f"or a mapping {{source: {{target: rttMs}}}}, got {type(doc).__name__}"
        )
    lines = _item_lines(text)
    for i, item in enumerate(doc):
        where = f"{lines[i]}: [{i}]" if i < len(lines) else f"[{i}]"
        if not isinstance(item, dict):
            rows.problems.append(f"{rows.source}:{where}: expected an object, got {item!r}")
            continue
        unknown = set(item) - {"source", "target", "rttMs", "rtt_ms"}
        if unknown:
            rows.problems.append(f"{rows.source}:{where}: unknown field {sorted(unknown)[0]!r}")
            continue
        rows.add(
            where, item.get("source"), item.get("target"), item.get("rttMs", item.get("rtt_ms"))
        )


def parse_matrix(text: str, source: str, landmarks: Mapping[str, str]) -> RttMatrix:
    """Parses CSV or JSON (by its first character); `landmarks` maps names and aliases."""
    rows = _Rows(source, landmarks)
    if text.lstrip()[:1] in ("[", "{"):
        _json(text, rows)
    else:
        _csv(text, rows)
    return rows.result(source)


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def _read(location: str, timeout_s: float) -> str:
    if not is_url(location):
        return Path(location).read_text()
    request = urllib.request.Request(location, headers={"Accept": "text/csv, application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        body: bytes = response.read(MAX_MATRIX_BYTES)
        return body.decode()


def load_matrix(location: str, landmarks: Mapping[str, str], timeout_s: float = 10) -> RttMatrix:
    """Reads and parses a file or URL; MatrixError (naming it) for anything that fails."""
    try:
        text = _read(location, timeout_s)
    except urllib.error.HTTPError as e:
        raise MatrixError(f"{location}: cannot read: HTTP {e.code} {e.reason}") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or getattr(e, "reason", None) or e
        raise MatrixError(f"{location}: cannot read: {reason}") from None
    return parse_matrix(text, location, landmarks)


class MatrixFeed:
    """Keeps the matrix current: a URL is refetched every `refresh_s`, a file when it changes.

    A fetch or parse that fails keeps the last good matrix in use, and says so in
    the log; `apply` is called with each new good one.
    """

    def __init__(
        self,
        location: str,
        landmarks: Mapping[str, str],
        apply: Callable[[RttMatrix], None],
        *,
        refresh_s: float = 300.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.location = location
        self._landmarks = landmarks
        self._apply = apply
        self._refresh_s = refresh_s
        self._timeout_s = timeout_s
        self._mtime_ns: int | None = None
        self.last_good_s: float | None = None  # time.time() of the matrix in use
        self.last_error: str | None = None

    def _changed(self) -> bool:
        if is_url(self.location):
            return True
        try:
            mtime_ns = Path(self.location).stat().st_mtime_ns
        except OSError:
            return True  # let the read report it
        if mtime_ns == self._mtime_ns:
            return False
        self._mtime_ns = mtime_ns
        return True

    async def refresh(self) -> bool:
        """One fetch; True if a new matrix is in use."""
        if not self._changed():
            return False
        try:
            matrix = await asyncio.to_thread(
                load_matrix, self.location, self._landmarks, self._timeout_s
            )
        except MatrixError as e:
            self.last_error = str(e)
            kept = "keeping the last good matrix" if self.last_good_s else "no matrix in use"
            log.warning("RTT matrix: %s; %s", e, kept)
            return False
        self._apply(matrix)
        self.last_good_s, self.last_error = time.time(), None
        log.info("RTT matrix from %s: %d RTTs", self.location, len(matrix))
        return True

    async def run(self) -> None:
        """Refreshes until cancelled; call `refresh` once first so the matrix is there at start."""
        every_s = self._refresh_s if is_url(self.location) else min(self._refresh_s, FILE_CHECK_S)
        while True:
            await asyncio.sleep(every_s)
            await self.refresh()

"""Energy figures that someone else knows: declared in the config, or fed by the site's systems.

`file` and `http` read the same small JSON document, in the manifest's
camelCase (every key optional; unknown keys are ignored, so a site's systems may
say more than the agent needs):

    {"renewableKw": 12.5, "carbonGPerKwh": 210, "pricePerKwh": 0.18,
     "itDrawKw": 8.2, "budgetKw": 20, "origin": "site-ems", "time": "2024-06-21T12:00:00Z",
     "carbonSignal": "average", "carbonScope": "lifecycle", "carbonProvenance": "measured",
     "zone": "DE-LU"}

`curtailToKw` is a grid demand-response signal (the site's operator or
aggregator relaying the grid's request): draw at most this much now. The
control plane records it as a Curtailment, and sheds load to meet it, for as
long as the document carries it.

A feed that stops being updated keeps its last figures, marked stale with their
age, rather than falling to zero: a zero carbon intensity would look like the
cleanest power in the fleet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from agents.config import FileEnergy, HttpEnergy, StaticEnergy
from agents.energy import EnergyReading, Figure
from controlplane.resources.node import CarbonBasis, CarbonProvenance, CarbonScope, CarbonSignal

log = logging.getLogger(__name__)


class StaticSource:
    def __init__(self, config: StaticEnergy) -> None:
        def declared(value: float | None) -> Figure | None:
            return None if value is None else Figure(value, "declared")

        self._reading = EnergyReading(
            renewable_kw=declared(config.renewable_kw),
            carbon_g_per_kwh=declared(config.carbon_g_per_kwh),
            carbon_basis=CarbonBasis(
                signal=config.carbon_signal, scope=config.carbon_scope, provenance="declared"
            ),
            price_per_kwh=declared(config.price_per_kwh),
            it_draw_kw=declared(config.it_draw_kw),
        )

    def read(self) -> EnergyReading:
        return self._reading

    async def run(self) -> None:
        return


class FeedDocument(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    renewable_kw: float | None = Field(default=None, ge=0)
    carbon_g_per_kwh: float | None = Field(default=None, ge=0)
    price_per_kwh: float | None = None  # may be negative: markets pay for load at times
    it_draw_kw: float | None = Field(default=None, ge=0)
    budget_kw: float | None = Field(default=None, gt=0)
    curtail_to_kw: float | None = Field(default=None, ge=0)  # a demand-response signal
    carbon_signal: CarbonSignal = "average"  # what carbonGPerKwh is (docs/energy.md)
    carbon_scope: CarbonScope = "lifecycle"
    carbon_provenance: CarbonProvenance = "declared"  # unsaid: the site's word, not a meter
    zone: str = ""  # the grid zone of the carbon figure
    origin: str = ""  # where the site's systems got the figures, e.g. "electricitymaps"
    time: datetime | None = None  # when the figures were true; default: when they were read


def parse_feed(raw: bytes | str, where: str) -> FeedDocument:
    try:
        data: Any = json.loads(raw)
        return FeedDocument.model_validate(data)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: invalid JSON: {e}") from None
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "document"
        raise ValueError(f"{where}: {field}: {first['msg']}") from None


class _Feed:
    """The last good document from a feed, and how old it is."""

    def __init__(self, where: str, max_age_s: float, clock: Callable[[], float]) -> None:
        self._where = where
        self._max_age_s = max_age_s
        self._clock = clock
        self._doc: FeedDocument | None = None
        self._as_of = 0.0

    def accept(self, doc: FeedDocument) -> None:
        self._doc = doc
        self._as_of = doc.time.timestamp() if doc.time and doc.time.tzinfo else self._clock()

    def reading(self) -> EnergyReading:
        doc = self._doc
        if doc is None:
            return EnergyReading()
        origin = f"{self._where}({doc.origin})" if doc.origin else self._where
        age = self._clock() - self._as_of
        stale = age > self._max_age_s
        if stale:
            origin += f",stale:{age:.0f}s"
        basis = CarbonBasis(
            signal=doc.carbon_signal,
            scope=doc.carbon_scope,
            provenance=doc.carbon_provenance,
            zone=doc.zone,
            time=doc.time.isoformat() if doc.time else "",
            stale=stale,
            age_seconds=round(max(age, 0.0), 1),
            provider=doc.origin,
        )

        def fed(value: float | None) -> Figure | None:
            return None if value is None else Figure(value, origin)

        return EnergyReading(
            renewable_kw=fed(doc.renewable_kw),
            carbon_g_per_kwh=fed(doc.carbon_g_per_kwh),
            carbon_basis=basis if doc.carbon_g_per_kwh is not None else None,
            price_per_kwh=fed(doc.price_per_kwh),
            it_draw_kw=fed(doc.it_draw_kw),
            budget_kw=fed(doc.budget_kw),
            curtail_to_kw=fed(doc.curtail_to_kw),
        )


class FileSource:
    """Re-reads the file whenever its modification time changes (a stat per heartbeat)."""

    def __init__(self, config: FileEnergy, clock: Callable[[], float] = time.time) -> None:
        self._path = config.path
        self._feed = _Feed(f"file:{config.path}", config.max_age_seconds, clock)
        self._mtime_ns = -1

    def read(self) -> EnergyReading:
        try:
            mtime_ns = self._path.stat().st_mtime_ns
            if mtime_ns != self._mtime_ns:
                self._mtime_ns = mtime_ns
                self._feed.accept(parse_feed(self._path.read_bytes(), str(self._path)))
        except (OSError, ValueError) as e:
            log.warning("energy file: %s; keeping the last figures", e)
        return self._feed.reading()

    async def run(self) -> None:
        return


def _fetch(url: str, timeout_s: float) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        body: bytes = response.read(1 << 20)
        return body


class HttpSource:
    """Polls the URL every `intervalSeconds` in the background; `read` never waits on it."""

    def __init__(self, config: HttpEnergy, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._feed = _Feed(f"http:{config.url}", config.max_age_seconds, clock)

    def read(self) -> EnergyReading:
        return self._feed.reading()

    async def poll(self) -> None:
        config = self._config
        try:
            body = await asyncio.to_thread(_fetch, config.url, config.timeout_seconds)
            self._feed.accept(parse_feed(body, config.url))
        except (OSError, ValueError) as e:
            log.warning("energy feed %s: %s; keeping the last figures", config.url, e)

    async def run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self._config.interval_seconds)

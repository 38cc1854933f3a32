"""Grid carbon from a provider's API (Electricity Maps, WattTime): what both sources share.

A provider is asked at most once per update interval (its figures change no
faster: Electricity Maps' hourly, WattTime's every five minutes), however often
the agent heartbeats; a 429 is honoured for as long as its Retry-After says.
Between polls and after failures, the last figure stays, with its age: past the
source's max age it is marked stale in its basis and its origin, so that
`tpctl describe node` shows it as old rather than passing it off as current.

The clients are a few GETs on the standard library, run in a thread so that
`read` never waits. The official SDKs were tried and do not fit: `electricitymaps`
0.0.1 fixes its host to the production URL, installs a top-level package named
`openapi` and types lat/lon as integers; `aiowatttime` fixes its base URL too,
brings in aiohttp, and retries on a fixed delay, ignoring Retry-After.

Keys come from a file or an environment variable, travel only in request
headers (never in a URL), and are never logged: error messages carry the
status and the endpoint's path.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agents.config import ConfigError
from agents.energy import EnergyReading, Figure, ForecastHour
from controlplane.logs import redact
from controlplane.resources.node import CarbonBasis

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_BODY_BYTES = 1 << 20


class FeedError(Exception):
    """A provider call that failed; the message names the endpoint, never the key."""


class KeyRefused(FeedError):
    """401/403: the key (or the login) is wrong, expired, or not entitled to this endpoint."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(FeedError):
    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def check_url(url: str, field: str) -> str:
    """https, or plain http to this machine only (a local proxy or a test's fake)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return url.rstrip("/")
    raise ConfigError(f"{field}: {url!r} must be https (plain http only to a loopback address)")


def read_secret(path: Path | None, env: str, field: str) -> str:
    """The key from its file, else its environment variable; registered to be scrubbed from logs."""
    if path is not None:
        try:
            secret = path.read_text().strip()
        except OSError as e:
            raise ConfigError(f"{field}File: {path}: {e.strerror}") from None
        if not secret:
            raise ConfigError(f"{field}File: {path} is empty")
    else:
        secret = os.environ.get(env, "").strip()
        if not secret:
            raise ConfigError(f"{field}Env: the environment variable {env} is not set")
    redact(secret)
    return secret


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def get_json(
    base: str,
    path: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    timeout_s: float,
    now: float,
) -> Any:
    """GET base+path?params as JSON; HTTP failures become FeedError with the path, not the key."""
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body: bytes = response.read(MAX_BODY_BYTES)
    except urllib.error.HTTPError as e:
        where = f"{path}: HTTP {e.code}"
        if e.code == 429:
            retry_s = retry_after_seconds(e.headers.get("Retry-After"), now)
            raise RateLimited(f"{where} (rate limited)", retry_s) from None
        if e.code in (401, 403):
            raise KeyRefused(f"{where} (key or login refused)", e.code) from None
        raise FeedError(where) from None
    except (OSError, ValueError) as e:
        raise FeedError(f"{path}: {e}") from None
    try:
        return json.loads(body)
    except json.JSONDecodeError as e:
        raise FeedError(f"{path}: invalid JSON: {e}") from None


D = TypeVar("D", bound=BaseModel)


def parse_doc(doc_type: type[D], data: object, path: str) -> D:
    """A provider's document, or a FeedError naming the endpoint and the first bad field."""
    try:
        return doc_type.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "document"
        raise FeedError(f"{path}: {field}: {first['msg']}") from None


@dataclass(frozen=True, slots=True)
class HourlyPoint:
    time: datetime
    carbon_g_per_kwh: float


@dataclass(frozen=True, slots=True)
class Observation:
    """One answer from a provider: the figure now, what it is, and its forecast if asked for."""

    carbon_g_per_kwh: float | None
    basis: CarbonBasis
    as_of: datetime  # when the figure was true
    note: str = ""  # shown in the origin, e.g. "index=12%"
    forecast: tuple[HourlyPoint, ...] | None = None  # None: not fetched this time


Fetch = Callable[[float, bool], Observation]  # (now, with_forecast) -> observation


class GridPoller:
    """Polls one provider within its update interval and keeps the last good observation."""

    def __init__(
        self,
        provider: str,
        fetch: Fetch,
        *,
        interval_s: float,
        forecast_interval_s: float | None,
        max_age_s: float,
        price_per_kwh: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._provider = provider
        self._fetch = fetch
        self._interval_s = interval_s
        self._forecast_interval_s = forecast_interval_s
        self._max_age_s = max_age_s
        self._price_per_kwh = price_per_kwh
        self._clock = clock
        self._last: Observation | None = None
        self._forecast: tuple[HourlyPoint, ...] = ()
        self._next_due = 0.0
        self._next_forecast_due = 0.0
        self._error = ""

    @property
    def error(self) -> str:
        """The last poll's failure ("" after a success), for logs and tests."""
        return self._error

    def poll_if_due(self) -> bool:
        """Asks the provider if its interval (or a Retry-After) has passed; True if it asked."""
        now = self._clock()
        if now < self._next_due:
            return False
        with_forecast = self._forecast_interval_s is not None and now >= self._next_forecast_due
        self._next_due = now + self._interval_s
        try:
            observation = self._fetch(now, with_forecast)
        except RateLimited as e:
            wait_s = max(e.retry_after_s or self._interval_s, self._interval_s)
            self._next_due = now + wait_s
            self._fail(f"{e}; next try in {wait_s:.0f} s")
            return True
        except FeedError as e:
            self._fail(str(e))
            return True
        self._last, self._error = observation, ""
        if observation.forecast is not None and self._forecast_interval_s is not None:
            self._forecast = observation.forecast
            self._next_forecast_due = now + self._forecast_interval_s
        return True

    def _fail(self, message: str) -> None:
        self._error = message
        log.warning("%s: %s; keeping the last figures", self._provider, message)

    def forecast(self) -> tuple[HourlyPoint, ...]:
        """The provider's latest forecast, hour by hour (empty if it has none)."""
        return self._forecast

    def reading(self) -> EnergyReading:
        price = Figure(self._price_per_kwh, "declared")
        last = self._last
        if last is None or last.carbon_g_per_kwh is None:
            return EnergyReading(price_per_kwh=price)
        age_s = max(0.0, self._clock() - last.as_of.timestamp())
        stale = age_s > self._max_age_s
        basis = last.basis.model_copy(
            update={
                "time": last.as_of.isoformat().replace("+00:00", "Z"),
                "age_seconds": round(age_s, 1),
                "stale": stale,
            }
        )
        origin = f"{self._provider}:{basis.zone}" + (f"({last.note})" if last.note else "")
        if stale:
            origin += f",stale:{age_s:.0f}s"
        return EnergyReading(
            carbon_g_per_kwh=Figure(last.carbon_g_per_kwh, origin),
            carbon_basis=basis,
            price_per_kwh=price,
            forecast=hours_ahead(self._forecast, self._clock()),
        )

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.poll_if_due)
            await asyncio.sleep(max(1.0, min(self._next_due - self._clock(), self._interval_s)))


MAX_FORECAST_H = 168  # the control plane takes at most a week of hours


def hours_ahead(points: tuple[HourlyPoint, ...], now: float) -> tuple[ForecastHour, ...]:
    """A provider's forecast as hours after the current one; hours already begun are dropped.

    A point at 13:00 is hour 1 at 12:10 (it is the next hour), hour 2 at 11:59.
    """
    out = []
    for p in points:
        offset = int((p.time.timestamp() - now) // 3600) + 1
        if 1 <= offset <= MAX_FORECAST_H:
            out.append(ForecastHour(offset, p.carbon_g_per_kwh))
    return tuple(out)


class GridFeedSource:
    """An energy source read from a grid-signal provider through its GridPoller."""

    def __init__(self, poller: GridPoller) -> None:
        self.poller = poller

    def read(self) -> EnergyReading:
        return self.poller.reading()

    async def run(self) -> None:
        await self.poller.run()

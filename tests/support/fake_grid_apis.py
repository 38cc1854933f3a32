"""Fakes of the Electricity Maps and WattTime APIs, at the edge of the world the agent talks to.

Each is a real HTTP server on loopback (http.server in a thread) that answers in
its provider's documented v3 format, with real hours replayed from
tests/agents/data/grid_hours_2023.csv (an extract of shared/data, shipped so
that the tests run in any clone). Their "now" is the test's clock, so a test
moves time and the hour served moves with it.

The data holds average intensities only: the WattTime fake serves a zone's
direct average as its marginal rate, in WattTime's units (lbs/MWh). It checks
the wire format, the labels and the polling, not WattTime's numbers.
"""

from __future__ import annotations

import base64
import csv
import json
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agents.energy.zones import zone_at

DATA = Path(__file__).resolve().parent.parent / "agents" / "data" / "grid_hours_2023.csv"
LB_PER_MWH_PER_G_PER_KWH = 1 / 0.45359237
WATTTIME_REGIONS = {"US-CAL-CISO": "CAISO_NORTH", "CA-ON": "IESO_NORTH", "JP-TK": "JP_TK"}


@dataclass(frozen=True, slots=True)
class Hour:
    zone: str
    time: datetime
    direct_g_per_kwh: float
    lifecycle_g_per_kwh: float
    estimated: bool
    estimation_method: str


def load_hours(path: Path = DATA) -> dict[str, list[Hour]]:
    hours: dict[str, list[Hour]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            hours.setdefault(row["zone"], []).append(
                Hour(
                    zone=row["zone"],
                    time=datetime.fromisoformat(row["time_utc"].replace("Z", "+00:00")),
                    direct_g_per_kwh=float(row["direct_g_per_kwh"]),
                    lifecycle_g_per_kwh=float(row["lifecycle_g_per_kwh"]),
                    estimated=row["estimated"] == "true",
                    estimation_method=row["estimation_method"],
                )
            )
    return hours


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True, slots=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class _Reply(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


class FakeApi:
    """The shared part: the server, the request log, and injected failures."""

    def __init__(self, clock: Callable[[], float], *, replay_offset_s: float = 0.0) -> None:
        self.clock = clock
        # Replayed hours are served as if this much later: with the wall clock as `clock`,
        # a 2023 hour is served as now (for a real agent process, which ages figures by it).
        self.offset = timedelta(seconds=replay_offset_s)
        self.hours = load_hours()
        self.seen: list[Seen] = []
        self._failures: list[_Reply] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.seen.append(Seen(parts.path, query, headers))
                    failure = fake._failures.pop(0) if fake._failures else None
                try:
                    if failure is not None:
                        raise failure
                    status, body, extra = 200, fake.answer(parts.path, query, headers), {}
                except _Reply as reply:
                    status, body, extra = reply.status, reply.body, reply.headers
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next `times` requests get `status` (e.g. 429 with a Retry-After header)."""
        with self._lock:
            self._failures += [_Reply(status, {"error": "injected"}, headers)] * times

    def calls(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.endswith(path)]

    def now(self) -> datetime:
        """The replayed hour's time now (the clock less the replay offset)."""
        return datetime.fromtimestamp(self.clock(), UTC) - self.offset

    def served(self, t: datetime) -> str:
        return iso(t + self.offset)

    def hour_index(self, zone: str) -> int:
        if zone not in self.hours:
            raise _Reply(404, {"error": f"zone {zone!r} has no data"})
        start = self.hours[zone][0].time
        index = int((self.now() - start).total_seconds() // 3600)
        if not 0 <= index < len(self.hours[zone]):
            raise _Reply(404, {"error": "no data for this hour"})
        return index

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError


class FakeElectricityMaps(FakeApi):
    """carbon-intensity/latest and /forecast, as docs.electricitymaps.com documents v3."""

    KEY = "em-" + secrets.token_hex(12)

    def _zone(self, query: dict[str, str]) -> str:
        if "zone" in query:
            return query["zone"]
        zone = zone_at(float(query["lat"]), float(query["lon"]))
        if zone is None:
            raise _Reply(404, {"error": "no zone at these coordinates"})
        return zone

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        if headers.get("auth-token") != self.KEY:
            raise _Reply(401, {"message": "Invalid authentication credentials"})
        zone = self._zone(query)
        lifecycle = query.get("emissionFactorType", "lifecycle") == "lifecycle"

        def value(h: Hour) -> float:
            return h.lifecycle_g_per_kwh if lifecycle else h.direct_g_per_kwh

        index = self.hour_index(zone)
        hours = self.hours[zone]
        if path == "/v3/carbon-intensity/latest":
            h = hours[index]
            return {
                "zone": zone,
                "carbonIntensity": value(h),
                "datetime": self.served(h.time),
                "updatedAt": self.served(h.time + timedelta(minutes=20)),
                "createdAt": self.served(h.time - timedelta(days=1)),
                "emissionFactorType": "lifecycle" if lifecycle else "direct",
                "isEstimated": h.estimated,
                "estimationMethod": h.estimation_method or None,
                "temporalGranularity": "hourly",
            }
        if path == "/v3/carbon-intensity/forecast":
            horizon = int(query.get("horizonHours", "24"))
            ahead = hours[index + 1 : index + 1 + horizon]
            return {
                "zone": zone,
                "forecast": [
                    {"carbonIntensity": value(h), "datetime": self.served(h.time)} for h in ahead
                ],
                "updatedAt": self.served(hours[index].time),
            }
        raise _Reply(404, {"error": f"no route {path}"})


class FakeWattTime(FakeApi):
    """/login, /v3/region-from-loc, /v3/signal-index and /v3/forecast, as WattTime documents v3."""

    USER = "site-ops"
    PASSWORD = "wt-" + secrets.token_hex(12)
    TOKEN_LIFETIME_S = 1800

    def __init__(self, clock: Callable[[], float], *, forecasts: bool = True) -> None:
        super().__init__(clock)
        self.forecasts = forecasts  # False: a plan with the index only (forecast is 403)
        self.tokens: dict[str, float] = {}  # token -> expiry on the clock

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def _region_zone(self, region: str) -> str:
        for zone, name in WATTTIME_REGIONS.items():
            if name == region:
                return zone
        raise _Reply(400, {"error": f"unknown region {region!r}"})

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        auth = headers.get("authorization", "")
        if path == "/login":
            expected = base64.b64encode(f"{self.USER}:{self.PASSWORD}".encode()).decode()
            if auth != f"Basic {expected}":
                raise _Reply(403, {"error": "Incorrect username or password"})
            token = secrets.token_hex(16)
            self.tokens[token] = self.clock() + self.TOKEN_LIFETIME_S
            return {"token": token}
        token = auth.removeprefix("Bearer ")
        if self.tokens.get(token, 0) <= self.clock():
            raise _Reply(401, {"error": "Invalid or expired token"})
        if path == "/v3/region-from-loc":
            zone = zone_at(float(query["latitude"]), float(query["longitude"]))
            if zone not in WATTTIME_REGIONS:
                raise _Reply(400, {"error": "Coordinates not found in any region"})
            region = WATTTIME_REGIONS[zone]
            return {"region": region, "region_full_name": region, "signal_type": "co2_moer"}
        region = query.get("region", "")
        zone = self._region_zone(region)
        index = self.hour_index(zone)
        hours = self.hours[zone]
        now = self.now()
        interval = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
        meta = {"region": region, "signal_type": "co2_moer", "data_point_period_seconds": 300}
        if path == "/v3/signal-index":
            values = sorted(h.direct_g_per_kwh for h in hours)
            percentile = 100 * values.index(hours[index].direct_g_per_kwh) / (len(values) - 1)
            point = {"point_time": interval.isoformat(), "value": round(percentile)}
            return {"data": [point], "meta": {**meta, "units": "percentile"}}
        if path == "/v3/forecast":
            if not self.forecasts:
                raise _Reply(403, {"error": "Your plan does not include forecasts"})
            horizon_s = int(query.get("horizon_hours", "24")) * 3600
            points = []
            for step in range(0, horizon_s, 300):
                t = interval + timedelta(seconds=step)
                i = index + int((t - hours[index].time).total_seconds() // 3600)
                if i >= len(hours):
                    break
                lbs = hours[i].direct_g_per_kwh * LB_PER_MWH_PER_G_PER_KWH
                points.append({"point_time": t.isoformat(), "value": round(lbs, 1)})
            meta |= {"units": "lbs_co2_per_mwh", "generated_at": interval.isoformat()}
            return {"data": points, "meta": meta}
        raise _Reply(404, {"error": f"no route {path}"})

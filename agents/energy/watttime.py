"""The `watttime` energy source: a region's marginal grid carbon (MOER) from WattTime's v3 API.

A marginal figure is the emission rate of the generation that answers a change
in load, not the mix's average: it is labelled `marginal`, `direct` (WattTime's
co2_moer counts combustion only), and never added to an average one.

`GET /login` (HTTP basic auth) gives a bearer token good for 30 minutes; the
source logs in again before then and once more on a 401. `GET /v3/forecast`
gives five-minute MOER points in lbs/MWh from the current interval on: its
first point is the figure now (so `forecast`, as WattTime makes it), the points
on the hour are the forecast. `GET /v3/signal-index` gives where the figure
stands among the past month's (a percentile), shown beside it; on a plan that
has only the index, the carbon figure stays unknown rather than guessed. The
region is the config's, else WattTime's `/v3/region-from-loc` for the site.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from agents.config import WattTimeEnergy
from agents.energy.gridfeeds import (
    FeedError,
    GridFeedSource,
    GridPoller,
    HourlyPoint,
    KeyRefused,
    Observation,
    basic_auth,
    check_url,
    get_json,
    parse_doc,
    read_secret,
)
from controlplane.logs import redact
from controlplane.resources import Location
from controlplane.resources.node import CarbonBasis

PROVIDER = "watttime"
SIGNAL = "co2_moer"
G_PER_KWH_PER_LB_PER_MWH = 0.45359237  # 453.59237 g per lb, 1,000 kWh per MWh
TOKEN_LIFETIME_S = 25 * 60  # WattTime's tokens last 30 minutes


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Token(_Doc):
    token: str = Field(min_length=1)


class Region(_Doc):
    region: str = Field(min_length=1)


class Point(_Doc):
    point_time: datetime
    value: float


class Meta(_Doc):
    region: str = ""
    units: str = ""
    data_point_period_seconds: float = Field(default=300, gt=0)


class Signal(_Doc):
    data: list[Point] = Field(min_length=1)
    meta: Meta


class WattTimeClient:
    def __init__(self, config: WattTimeEnergy, location: Location) -> None:
        self._config = config
        self._base = check_url(config.url, "agent.energy.url")
        self._password = read_secret(
            config.password_file, config.password_env, "agent.energy.password"
        )
        self._location = location
        self._token = ""
        self._token_until = 0.0
        self._region = config.region

    def _login(self, now: float) -> None:
        auth = {"Authorization": basic_auth(self._config.username, self._password)}
        data = get_json(self._base, "/login", {}, auth, self._config.timeout_seconds, now)
        self._token = parse_doc(Token, data, "/login").token
        redact(self._token)
        self._token_until = now + TOKEN_LIFETIME_S

    def _get(self, path: str, params: dict[str, str], now: float) -> object:
        if not self._token or now >= self._token_until:
            self._login(now)
        for attempt in (1, 2):
            auth = {"Authorization": f"Bearer {self._token}"}
            try:
                return get_json(self._base, path, params, auth, self._config.timeout_seconds, now)
            except KeyRefused as e:
                if attempt == 2 or e.status == 403:
                    raise
                self._login(now)  # the token expired early: one fresh login, then give up
        raise AssertionError("unreachable")

    def region(self, now: float) -> str:
        if not self._region:
            where = {
                "latitude": str(self._location.lat),
                "longitude": str(self._location.lon),
                "signal_type": SIGNAL,
            }
            path = "/v3/region-from-loc"
            self._region = parse_doc(Region, self._get(path, where, now), path).region
        return self._region

    def fetch(self, now: float, with_forecast: bool) -> Observation:
        region = self.region(now)
        query = {"region": region, "signal_type": SIGNAL}
        path = "/v3/signal-index"
        index = parse_doc(Signal, self._get(path, query, now), path).data[0]
        basis = CarbonBasis(
            signal="marginal", scope="direct", provenance="forecast", zone=region, provider=PROVIDER
        )
        note = f"index={index.value:.0f}%"
        path = "/v3/forecast"
        hours = {**query, "horizon_hours": str(self._config.forecast_hours)}
        try:
            forecast = parse_doc(Signal, self._get(path, hours, now), path)
        except KeyRefused:  # a plan without forecasts: the index alone, no figure
            return Observation(None, basis, index.point_time, note)
        if forecast.meta.units != "lbs_co2_per_mwh":
            units = forecast.meta.units
            raise FeedError(f"{path}: meta.units: expected lbs_co2_per_mwh, got {units!r}")
        hourly = tuple(
            HourlyPoint(p.point_time, p.value * G_PER_KWH_PER_LB_PER_MWH)
            for p in forecast.data
            if p.point_time.astimezone(UTC).minute == 0
        )
        now_point = forecast.data[0]
        g_per_kwh = now_point.value * G_PER_KWH_PER_LB_PER_MWH
        return Observation(g_per_kwh, basis, now_point.point_time, note, hourly)


class WattTimeSource(GridFeedSource):
    def __init__(
        self,
        config: WattTimeEnergy,
        location: Location,
        clock: Callable[[], float] = time.time,
    ) -> None:
        client = WattTimeClient(config, location)
        super().__init__(
            GridPoller(
                PROVIDER,
                client.fetch,
                interval_s=config.interval_seconds,
                forecast_interval_s=config.interval_seconds,
                max_age_s=config.max_age_seconds,
                price_per_kwh=config.price_per_kwh,
                clock=clock,
            )
        )

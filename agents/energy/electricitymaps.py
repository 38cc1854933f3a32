"""The `electricitymaps` energy source: a zone's average grid carbon, from Electricity Maps' API.

`GET /carbon-intensity/latest` gives the zone's current intensity, an average
over its generation mix (the GHG Protocol's location-based figure), direct or
lifecycle as the config asks; `isEstimated` tells a measured hour from the
provider's own estimate. `GET /carbon-intensity/forecast` gives the next hours.
Both take the key in the `auth-token` header. The zone is the config's, else
the site's from agents/energy/zones.py, else the API's own lookup by the
site's coordinates (and the zone it answers with is then the figure's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from agents.config import ElectricityMapsEnergy
from agents.energy.gridfeeds import (
    GridFeedSource,
    GridPoller,
    HourlyPoint,
    Observation,
    check_url,
    get_json,
    parse_doc,
    read_secret,
)
from agents.energy.zones import zone_at
from controlplane.resources import Location
from controlplane.resources.node import CarbonBasis

PROVIDER = "electricitymaps"


class _Doc(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Latest(_Doc):
    zone: str
    carbon_intensity: float | None = Field(ge=0)
    datetime: datetime
    emission_factor_type: str = ""
    is_estimated: bool | None = None
    estimation_method: str | None = None


class ForecastItem(_Doc):
    carbon_intensity: float = Field(ge=0)
    datetime: datetime


class Forecast(_Doc):
    zone: str
    forecast: list[ForecastItem]


class ElectricityMapsClient:
    def __init__(self, config: ElectricityMapsEnergy, location: Location) -> None:
        self._config = config
        self._base = check_url(config.url, "agent.energy.url")
        self._key = read_secret(config.api_key_file, config.api_key_env, "agent.energy.apiKey")
        zone = config.zone or zone_at(location.lat, location.lon, location.country)
        self._where = (
            {"zone": zone} if zone else {"lat": f"{location.lat}", "lon": f"{location.lon}"}
        )

    def _get(self, path: str, extra: dict[str, str], now: float) -> object:
        params = {**self._where, "emissionFactorType": self._config.emission_factor_type, **extra}
        headers = {"auth-token": self._key}
        return get_json(self._base, path, params, headers, self._config.timeout_seconds, now)

    def fetch(self, now: float, with_forecast: bool) -> Observation:
        path = "/carbon-intensity/latest"
        latest = parse_doc(Latest, self._get(path, {}, now), path)
        forecast = None
        if with_forecast:
            path = "/carbon-intensity/forecast"
            hours = {"horizonHours": str(self._config.forecast_hours)}
            doc = parse_doc(Forecast, self._get(path, hours, now), path)
            forecast = tuple(HourlyPoint(p.datetime, p.carbon_intensity) for p in doc.forecast)
        scope = latest.emission_factor_type or self._config.emission_factor_type
        basis = CarbonBasis(
            signal="average",
            scope="direct" if scope == "direct" else "lifecycle",
            provenance="modelled" if latest.is_estimated else "measured",
            zone=latest.zone,
            provider=PROVIDER,
        )
        note = f"estimated:{latest.estimation_method}" if latest.estimation_method else ""
        return Observation(latest.carbon_intensity, basis, latest.datetime, note, forecast)


class ElectricityMapsSource(GridFeedSource):
    def __init__(
        self,
        config: ElectricityMapsEnergy,
        location: Location,
        clock: Callable[[], float] = time.time,
    ) -> None:
        client = ElectricityMapsClient(config, location)
        super().__init__(
            GridPoller(
                PROVIDER,
                client.fetch,
                interval_s=config.interval_seconds,
                forecast_interval_s=config.forecast_interval_seconds
                if config.forecast_hours
                else None,
                max_age_s=config.max_age_seconds,
                price_per_kwh=config.price_per_kwh,
                clock=clock,
            )
        )

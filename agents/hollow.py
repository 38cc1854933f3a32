"""Hollow mode: many simulated nodes in one process, each with its own gRPC stream.

In the manner of Kubernetes' kubemark and KWOK: the control plane sees real
agents (real joins, real streams, real heartbeats, real keepalive pings on a
connection per node); only the machines behind them are simulated.

A node's energy figures come, per node, from one of four places, and every
heartbeat names which (`energy_source`, shown by `tpctl describe node`):
- its manifest's `status.energy`: a fake power meter, `hollow:manifest`;
- an `agent.energy` section of `source: static`: figures declared as in node.yaml;
- an `agent.energy` section of `source: modelled`: clear-sky solar from pvlib
  for the site's coordinates and the country's published grid carbon, as a real
  agent's modelled source, at the time of a clock that may be simulated
  (`--clock-speed`), so that a day of sun and grid passes in minutes;
- an `agent.energy` section of `source: replay`: the same solar, and a grid
  zone's real carbon and price for the clock's hour (agents/energy/replay.py).

Cost: 1,000 modelled nodes share one `ClearSkyTable` (a day of 5-minute values
for every distinct site, computed in one vectorised pass), so a heartbeat only
interpolates; pvlib never runs per heartbeat.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import resource
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError

from agents.config import ConfigError, ModelledEnergy, StaticEnergy
from agents.connection import NodeLink
from agents.credentials import NodeTokens
from agents.energy import ForecastHour
from agents.energy.clearsky_table import ClearSkyTable, Site
from agents.energy.replay import ReplayEnergy
from agents.hollow_runtime import HollowRuntime
from agents.probes import SimulatedRtts, with_rtt_samples
from agents.runtime import Runtime
from agents.simclock import Clock, SimClock
from controlplane.resources import ManifestError, Node, parse_manifest
from controlplane.resources.codec import to_message
from controlplane.resources.meta import Model
from controlplane.resources.node import CarbonBasis
from tokenplane.v1 import agent_pb2, resources_pb2

log = logging.getLogger(__name__)

IDLE_DRAW_SHARE = 0.1  # a site's IT draw with no replicas, as a share of its budget
MANIFEST_SOURCE = "hollow:manifest"

ENERGY_SOURCES = ("static", "modelled", "replay")
HollowEnergy = Annotated[
    StaticEnergy | ModelledEnergy | ReplayEnergy, Field(discriminator="source")
]


class HollowAgentSection(Model):
    """A fleet document's `agent` section: energy and RTTs, since the machine is simulated."""

    energy: HollowEnergy | None = None
    # landmark -> RTT ms, reported as samples of method "simulated" (hollow nodes never probe)
    simulated_rtt_ms: dict[str, Annotated[float, Field(ge=0, le=60_000)]] = Field(
        default_factory=dict
    )


@dataclass(frozen=True)
class HollowNode:
    node: Node
    # None: from the manifest's status
    energy: StaticEnergy | ModelledEnergy | ReplayEnergy | None = None
    simulated_rtt_ms: Mapping[str, float] = field(default_factory=dict)


def parse_hollow_node(doc: Any, source: str) -> HollowNode:
    """A Node manifest with an optional `agent: {energy: ...}` section (docs/fleet-file.md)."""
    if not isinstance(doc, dict):
        raise ManifestError([(source, f"expected a mapping, got {type(doc).__name__}")])
    doc = dict(doc)
    agent = doc.pop("agent", None)
    node = parse_manifest(doc, source)
    if not isinstance(node, Node):
        raise ManifestError([(f"{source}: kind", "a hollow fleet holds only Node manifests")])
    if agent is None:
        return HollowNode(node)
    try:
        section = HollowAgentSection.model_validate(agent)
    except ValidationError as e:
        raise ManifestError(
            [(f"{source}: agent.{_field_path(err['loc'])}", err["msg"]) for err in e.errors()]
        ) from None
    return HollowNode(node, section.energy, section.simulated_rtt_ms)


def _field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location without the union tag it inserts after `energy`."""
    parts = [
        str(p)
        for i, p in enumerate(loc)
        if not (i > 0 and loc[i - 1] == "energy" and p in ENERGY_SOURCES)
    ]
    return ".".join(parts)


def load_fleet(text: str, source: str) -> list[HollowNode]:
    """Every Node document of a fleet file; all bad documents are reported together."""
    nodes: list[HollowNode] = []
    problems: list[tuple[str, str]] = []
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise ManifestError([(source, f"invalid YAML: {e}")]) from None
    for index, doc in enumerate(docs):
        try:
            nodes.append(parse_hollow_node(doc, f"{source} (document {index + 1})"))
        except ManifestError as e:
            problems.extend(e.problems)
    if problems:
        raise ManifestError(problems)
    return nodes


@dataclass(frozen=True)
class EnergyFigures:
    """What a hollow node reports besides its draw; each figure is read per heartbeat."""

    renewable_kw: Callable[[], float]
    carbon_g_per_kwh: Callable[[], float]
    price_per_kwh: Callable[[], float]
    source: str
    carbon_basis: resources_pb2.CarbonBasis | None = None  # what carbon_g_per_kwh is
    forecast: Callable[[], Sequence[ForecastHour]] = tuple  # the next hours, if the source has any


def _constant(value: float) -> Callable[[], float]:
    return lambda: value


def _basis(basis: CarbonBasis) -> resources_pb2.CarbonBasis:
    return resources_pb2.CarbonBasis(**basis.model_dump())


class EnergyModels:
    """Builds each node's figures; modelled solar of all nodes shares one table."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._sites: dict[str, int] = {}  # a distinct site (place and array) -> table row
        self._site_list: list[Site] = []  # in row order
        self._table: ClearSkyTable | None = None  # built by prepare(): it imports pvlib

    def figures(self, hollow: HollowNode) -> EnergyFigures:
        node, energy = hollow.node, hollow.energy
        if energy is None:
            status = node.status.energy if node.status and node.status.energy else None
            return EnergyFigures(
                _constant(status.renewable_kw if status else 0.0),
                _constant(status.carbon_g_per_kwh if status else 0.0),
                _constant(status.price_per_kwh if status else 0.0),
                MANIFEST_SOURCE,
                _basis(status.carbon_basis) if status and status.carbon_basis else None,
            )
        if isinstance(energy, StaticEnergy):
            return EnergyFigures(
                _constant(energy.renewable_kw),
                _constant(energy.carbon_g_per_kwh),
                _constant(energy.price_per_kwh),
                "renewable=declared carbon=declared price=declared itDraw=hollow:replicas",
                resources_pb2.CarbonBasis(
                    signal=energy.carbon_signal, scope=energy.carbon_scope, provenance="declared"
                ),
            )
        if isinstance(energy, ReplayEnergy):
            return self._replayed(node, energy)
        return self._modelled(node, energy)

    def _renewable(
        self, node: Node, energy: ModelledEnergy | ReplayEnergy
    ) -> tuple[Callable[[], float], str]:
        from agents.energy.modelled import SOLAR_ORIGIN

        if energy.solar is None:
            return _constant(0.0), "declared:no-solar"
        solar = functools.partial(self._solar_kw, self._site(node, energy))
        return solar, f"{SOLAR_ORIGIN}@{self._clock.describe()}"

    def _replayed(self, node: Node, energy: ReplayEnergy) -> EnergyFigures:
        """The zone's real hours at the simulated clock's hour (agents/energy/replay.py)."""
        from agents.energy.replay import zone_replay

        try:
            replay = zone_replay(energy)
        except (OSError, ValueError) as e:
            raise ConfigError(f"node {node.name}: agent.energy: {e}") from None
        renewable, origin = self._renewable(node, energy)
        now_s = self._clock.now_s
        return EnergyFigures(
            renewable,
            lambda: replay.carbon_g_per_kwh(now_s()),
            lambda: replay.price_per_kwh(now_s()),
            f"renewable={origin} carbon={replay.carbon_origin}@{self._clock.describe()} "
            f"price={replay.price_origin} itDraw=hollow:replicas",
            resources_pb2.CarbonBasis(
                signal="average",
                scope=energy.basis,
                provenance="measured",
                zone=energy.zone,
                provider="electricitymaps",
            ),
            lambda: replay.forecast(now_s()),
        )

    def _modelled(self, node: Node, energy: ModelledEnergy) -> EnergyFigures:
        from agents.energy.modelled import country_carbon

        country = energy.country or node.spec.location.country
        carbon = country_carbon(country) if country else None
        if carbon is None:
            raise ConfigError(
                f"node {node.name}: agent.energy: no published grid carbon for country "
                f"{country!r} (set spec.location.country or agent.energy.country)"
            )
        renewable, origin = self._renewable(node, energy)
        return EnergyFigures(
            renewable,
            _constant(carbon.g_per_kwh),
            _constant(energy.price_per_kwh),
            f"renewable={origin} carbon={carbon.origin} price=declared itDraw=hollow:replicas",
            _basis(carbon.basis),
        )

    def _site(self, node: Node, energy: ModelledEnergy | ReplayEnergy) -> int:
        assert energy.solar is not None
        site = Site(node.spec.location.lat, node.spec.location.lon, energy.solar)
        key = f"{site.lat},{site.lon},{site.array.model_dump_json()}"
        if key not in self._sites:
            self._sites[key] = len(self._site_list)
            self._site_list.append(site)
        return self._sites[key]

    def prepare(self) -> None:
        """Computes today's solar for every site now, before the streams open (~0.2 s a day)."""
        if self._site_list:
            self._table = ClearSkyTable(self._site_list)
            log.info("clear-sky table: %d distinct solar sites", len(self._table))
            self._solar_kw(0)

    def _solar_kw(self, site: int) -> float:
        assert self._table is not None, "prepare() computes the table before the first heartbeat"
        return self._table.power_kw(site, self._clock.now_s())


class HollowTelemetry:
    """The simulated node's heartbeat: capacity from its spec, use from its replicas."""

    def __init__(self, node: Node, energy: EnergyFigures) -> None:
        self._node = node
        self._energy = energy
        status = node.status.energy if node.status and node.status.energy else None
        self.budget_kw = (
            status.budget_kw if status and status.budget_kw else (node.spec.power.budget_kw)
        )
        self._forecast: tuple[Sequence[ForecastHour], list[resources_pb2.ForecastPoint]] = ((), [])

    def _forecast_points(self) -> list[resources_pb2.ForecastPoint]:
        """The source's forecast as messages, made again only when it changes (hourly)."""
        hours = self._energy.forecast()
        if hours is not self._forecast[0]:
            points = [
                resources_pb2.ForecastPoint(
                    hour_offset=f.hour_offset,
                    carbon_g_per_kwh=f.carbon_g_per_kwh,
                    price_per_kwh=f.price_per_kwh,
                )
                for f in hours
            ]
            self._forecast = (hours, points)
        return self._forecast[1]

    def __call__(self, runtime: Runtime) -> agent_pb2.Heartbeat:
        used, replica_kw = runtime.usage()
        gpus = [
            agent_pb2.GpuUsage(
                model=g.model,
                memory_gb=g.memory_gb,
                total=g.count,
                free=max(0, g.count - used.get(g.model, 0)),
            )
            for g in self._node.spec.capacity.gpus
        ]
        energy = self._energy
        return agent_pb2.Heartbeat(
            it_draw_kw=IDLE_DRAW_SHARE * self._node.spec.power.budget_kw + replica_kw,
            budget_kw=self.budget_kw,
            renewable_kw=energy.renewable_kw(),
            carbon_g_per_kwh=energy.carbon_g_per_kwh(),
            price_per_kwh=energy.price_per_kwh(),
            gpus=gpus,
            energy_source=energy.source,
            carbon_basis=energy.carbon_basis,
            forecast=self._forecast_points(),
        )


def _with_simulated_rtts(
    telemetry: HollowTelemetry, hollow: HollowNode, rng: random.Random
) -> Callable[[Runtime], agent_pb2.Heartbeat]:
    if not hollow.simulated_rtt_ms:
        return telemetry
    return with_rtt_samples(telemetry, SimulatedRtts(hollow.simulated_rtt_ms, rng=rng))


def raise_fd_limit() -> None:
    """A connection per node needs a file descriptor per node."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def build_links(
    nodes: Sequence[HollowNode | Node],
    server: str,
    token: str,
    *,
    startup_s: float = 0.5,
    seed: int = 0,
    clock: Clock | None = None,
    tokens: NodeTokens | None = None,
) -> list[NodeLink]:
    """One link per node; plain Nodes report their manifest's energy figures."""
    models = EnergyModels(clock or SimClock.starting_now())
    hollow = [n if isinstance(n, HollowNode) else HollowNode(n) for n in nodes]
    links = [
        NodeLink(
            node=to_message(h.node),
            server=server,
            bootstrap_token=token,
            runtime_factory=functools.partial(HollowRuntime, h.node.name, startup_s=startup_s),
            telemetry=_with_simulated_rtts(
                HollowTelemetry(h.node, models.figures(h)), h, random.Random(seed + i)
            ),
            rng=random.Random(seed + i),
            tokens=tokens,
        )
        for i, h in enumerate(hollow)
    ]
    models.prepare()
    return links


async def run_fleet(links: list[NodeLink], *, ramp_per_s: float = 2000.0) -> None:
    """Starts `ramp_per_s` links a second: a join storm the server can take."""
    raise_fd_limit()
    tasks = []
    for i, link in enumerate(links):
        tasks.append(asyncio.create_task(link.run(), name=f"hollow-{link.name}"))
        if (i + 1) % 100 == 0:
            await asyncio.sleep(100 / ramp_per_s)
    log.info("%d hollow nodes started", len(links))
    await asyncio.gather(*tasks)

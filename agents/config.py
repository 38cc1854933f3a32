"""The node config file (`node.yaml`): the Node manifest the agent joins with, plus its own section.

One file says what the node is (the `Node` manifest an operator would recognise
from `tpctl get node -o yaml`) and how the agent learns the rest: where its
energy figures come from and how it runs replicas. Validated once at start-up
by pydantic, with errors that name the file and the field (`agent.energy.path:
Field required`), so a typo stops the agent before it joins rather than after.
The format is documented in docs/agent.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from agents.templates import check_words, split_command
from controlplane.regions import NAME_PATTERN, split_address
from controlplane.resources import Node, NodeSpec, ObjectMeta
from controlplane.resources.meta import Model
from controlplane.resources.node import CarbonScope, CarbonSignal


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and each bad field."""


# Energy sources ---------------------------------------------------------------------------


class StaticEnergy(Model):
    """Declared figures, for a site with no feed: each is reported as `declared`."""

    source: Literal["static"]
    renewable_kw: float = Field(default=0, ge=0)
    carbon_g_per_kwh: float = Field(default=0, ge=0)
    carbon_signal: CarbonSignal = "average"  # what the declared carbon figure is
    carbon_scope: CarbonScope = "lifecycle"
    price_per_kwh: float = Field(default=0, ge=0)
    it_draw_kw: float | None = Field(default=None, ge=0)


class FileEnergy(Model):
    """A JSON file that the site's own systems keep current (see docs/agent.md for its keys)."""

    source: Literal["file"]
    path: Path
    max_age_seconds: float = Field(default=300, gt=0)


class HttpEnergy(Model):
    """A URL returning the same JSON as the file source, polled in the background."""

    source: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    interval_seconds: float = Field(default=30, gt=0)
    timeout_seconds: float = Field(default=5, gt=0)
    max_age_seconds: float = Field(default=300, gt=0)


class SolarArray(Model):
    """The site's PV array, for pvlib's clear-sky model."""

    capacity_kwp: float = Field(gt=0)
    tilt_deg: float = Field(default=30, ge=0, le=90)
    azimuth_deg: float = Field(default=180, ge=0, lt=360)  # 180: facing south
    losses_percent: float = Field(default=14, ge=0, lt=100)  # PVWatts' default system losses
    altitude_m: float | None = None  # default: pvlib's lookup for the site


class ModelledEnergy(Model):
    """Solar from the site's coordinates, grid carbon from published country figures."""

    source: Literal["modelled"]
    solar: SolarArray | None = None
    country: str = Field(default="", pattern=r"^([A-Z]{2})?$")  # default: spec.location.country
    price_per_kwh: float = Field(default=0, ge=0)
    recompute_seconds: float = Field(default=60, gt=0)


class ElectricityMapsEnergy(Model):
    """The zone's average grid carbon from Electricity Maps' API (docs/agent.md)."""

    source: Literal["electricitymaps"]
    zone: str = ""  # default: from spec.location (agents/energy/zones.py), else the API's lookup
    api_key_file: Path | None = None  # default: the environment variable below
    api_key_env: str = "ELECTRICITYMAPS_API_KEY"
    url: str = "https://api.electricitymaps.com/v3"
    emission_factor_type: Literal["lifecycle", "direct"] = "lifecycle"
    interval_seconds: float = Field(default=900, ge=60)  # its figures are hourly
    forecast_hours: int = Field(default=24, ge=0, le=72)  # 0: no forecast
    forecast_interval_seconds: float = Field(default=3600, ge=60)
    max_age_seconds: float = Field(default=7200, gt=0)
    timeout_seconds: float = Field(default=10, gt=0)
    price_per_kwh: float = Field(default=0, ge=0)


class WattTimeEnergy(Model):
    """The region's marginal grid carbon (MOER) from WattTime's API (docs/agent.md)."""

    source: Literal["watttime"]
    region: str = ""  # default: WattTime's region-from-loc for spec.location
    username: str = Field(min_length=1)
    password_file: Path | None = None  # default: the environment variable below
    password_env: str = "WATTTIME_PASSWORD"
    url: str = "https://api.watttime.org"
    interval_seconds: float = Field(default=300, ge=60)  # its figures are five-minutely
    forecast_hours: int = Field(default=24, ge=1, le=72)  # its first point is the figure now
    max_age_seconds: float = Field(default=1800, gt=0)
    timeout_seconds: float = Field(default=10, gt=0)
    price_per_kwh: float = Field(default=0, ge=0)


EnergyConfig = Annotated[
    StaticEnergy
    | FileEnergy
    | HttpEnergy
    | ModelledEnergy
    | ElectricityMapsEnergy
    | WattTimeEnergy,
    Field(discriminator="source"),
]


# Runtime drivers --------------------------------------------------------------------------


class ProcessTemplate(Model):
    """How to run one model runtime (`spec.model.runtime`) as a local process.

    `command` is split like a shell would (no shell runs it) and each word is
    formatted with {model}, {version}, {artifact} (default: the model's name),
    {port}, {host}, {name} (the replica's), {deployment} and {gpus} (how many).
    """

    command: str = Field(min_length=1)
    health_path: str = Field(default="/health", pattern=r"^/")
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("command")
    @classmethod
    def _formattable(cls, command: str) -> str:
        check_words(split_command(command))
        return command


class ProcessRuntimeConfig(Model):
    driver: Literal["process"]
    templates: dict[str, ProcessTemplate] = Field(min_length=1)
    bind_host: str = "127.0.0.1"  # what {host} becomes: where replicas listen
    advertise_host: str = ""  # host in reported endpoints; default: bind_host
    start_timeout_seconds: float = Field(default=900, gt=0)  # model loading can take minutes
    health_interval_seconds: float = Field(default=5, gt=0)
    health_failures: int = Field(default=3, ge=1)  # consecutive failures before a restart
    grace_period_seconds: float = Field(default=30, ge=0)  # SIGTERM, then SIGKILL
    restart_backoff_seconds: float = Field(default=1, gt=0)
    max_restart_backoff_seconds: float = Field(default=60, gt=0)
    crash_loop_restarts: int = Field(default=5, ge=1)  # restarts before reporting Failed


class KubernetesTemplate(Model):
    """How to run one model runtime as a container; args are formatted as in ProcessTemplate."""

    image: str = Field(min_length=1)
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    port: int = Field(default=8000, gt=0, lt=65536)
    health_path: str = Field(default="/health", pattern=r"^/")
    env: dict[str, str] = Field(default_factory=dict)
    gpu_resource: str = "nvidia.com/gpu"

    @field_validator("command", "args")
    @classmethod
    def _formattable(cls, words: list[str]) -> list[str]:
        check_words(words)
        return words


class KubernetesRuntimeConfig(Model):
    driver: Literal["kubernetes"]
    templates: dict[str, KubernetesTemplate] = Field(min_length=1)
    namespace: str = "tokenplane"
    kubeconfig: Path | None = None  # default: in-cluster service account
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    advertise_host: str = ""  # with NodePort: the host in reported endpoints
    poll_seconds: float = Field(default=5, gt=0)
    start_timeout_seconds: float = Field(default=900, gt=0)


RuntimeConfig = Annotated[
    ProcessRuntimeConfig | KubernetesRuntimeConfig, Field(discriminator="driver")
]


# RTT probes -------------------------------------------------------------------------------


class ProbeTargetConfig(Model):
    """A landmark this node probes besides the server's (same name: this address wins)."""

    name: str = Field(pattern=NAME_PATTERN)
    address: str  # host:port

    @field_validator("address")
    @classmethod
    def _address(cls, address: str) -> str:
        split_address(address)
        return address


class ProbeConfig(Model):
    """How this node measures RTTs to landmarks (docs/agent.md, "RTT probes")."""

    enabled: bool = True
    targets: list[ProbeTargetConfig] = Field(default_factory=list)
    interval_seconds: float | None = Field(default=None, ge=1)  # default: the server's
    timeout_seconds: float = Field(default=2, gt=0, le=30)


_TAGS = frozenset(
    {"static", "file", "http", "modelled", "electricitymaps", "watttime", "process", "kubernetes"}
)


class AgentSection(Model):
    energy: EnergyConfig
    runtime: RuntimeConfig
    probes: ProbeConfig = Field(default_factory=ProbeConfig)


class NodeConfig(Model):
    """The whole file: a Node manifest (no status: the agent reports that) plus `agent`."""

    api_version: Literal["tokenplane.io/v1"] = "tokenplane.io/v1"
    kind: Literal["Node"] = "Node"
    metadata: ObjectMeta
    spec: NodeSpec
    agent: AgentSection

    def node(self) -> Node:
        return Node(metadata=self.metadata.model_copy(), spec=self.spec.model_copy(deep=True))


def _where(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as the YAML path, without the union tag pydantic inserts."""
    parts = list(loc)
    for i, part in enumerate(parts[:-1]):
        if part in ("energy", "runtime") and parts[i + 1] in _TAGS:
            del parts[i + 1]
            break
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_config(doc: Any, source: str = "node.yaml") -> NodeConfig:
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(doc).__name__}")
    try:
        return NodeConfig.model_validate(doc)
    except ValidationError as e:
        raise ConfigError(
            "\n".join(
                f"{source}: {_where(err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
                for err in e.errors()
            )
        ) from None


def load_config(path: Path) -> NodeConfig:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    return parse_config(doc, str(path))

from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ObjectMeta(_message.Message):
    __slots__ = ("name", "labels", "annotations", "resource_version", "uid", "creation_timestamp", "generation")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    annotations: _containers.ScalarMap[str, str]
    resource_version: str
    uid: str
    creation_timestamp: str
    generation: int
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., annotations: _Optional[_Mapping[str, str]] = ..., resource_version: _Optional[str] = ..., uid: _Optional[str] = ..., creation_timestamp: _Optional[str] = ..., generation: _Optional[int] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("lat", "lon", "region", "country", "city")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lon: float
    region: str
    country: str
    city: str
    def __init__(self, lat: _Optional[float] = ..., lon: _Optional[float] = ..., region: _Optional[str] = ..., country: _Optional[str] = ..., city: _Optional[str] = ...) -> None: ...

class GpuCapacity(_message.Message):
    __slots__ = ("model", "memory_gb", "count")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_GB_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    model: str
    memory_gb: float
    count: int
    def __init__(self, model: _Optional[str] = ..., memory_gb: _Optional[float] = ..., count: _Optional[int] = ...) -> None: ...

class Capacity(_message.Message):
    __slots__ = ("gpus", "cpu_cores", "memory_gb")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_GB_FIELD_NUMBER: _ClassVar[int]
    gpus: _containers.RepeatedCompositeFieldContainer[GpuCapacity]
    cpu_cores: float
    memory_gb: float
    def __init__(self, gpus: _Optional[_Iterable[_Union[GpuCapacity, _Mapping]]] = ..., cpu_cores: _Optional[float] = ..., memory_gb: _Optional[float] = ...) -> None: ...

class PowerSpec(_message.Message):
    __slots__ = ("budget_kw", "pue")
    BUDGET_KW_FIELD_NUMBER: _ClassVar[int]
    PUE_FIELD_NUMBER: _ClassVar[int]
    budget_kw: float
    pue: float
    def __init__(self, budget_kw: _Optional[float] = ..., pue: _Optional[float] = ...) -> None: ...

class Taint(_message.Message):
    __slots__ = ("key", "value", "effect")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    effect: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ..., effect: _Optional[str] = ...) -> None: ...

class NodeSpec(_message.Message):
    __slots__ = ("tier", "location", "capacity", "power", "taints", "unschedulable", "contracts", "residual_mix_g_per_kwh")
    TIER_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    TAINTS_FIELD_NUMBER: _ClassVar[int]
    UNSCHEDULABLE_FIELD_NUMBER: _ClassVar[int]
    CONTRACTS_FIELD_NUMBER: _ClassVar[int]
    RESIDUAL_MIX_G_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    tier: str
    location: Location
    capacity: Capacity
    power: PowerSpec
    taints: _containers.RepeatedCompositeFieldContainer[Taint]
    unschedulable: bool
    contracts: _containers.RepeatedCompositeFieldContainer[EnergyContract]
    residual_mix_g_per_kwh: float
    def __init__(self, tier: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., capacity: _Optional[_Union[Capacity, _Mapping]] = ..., power: _Optional[_Union[PowerSpec, _Mapping]] = ..., taints: _Optional[_Iterable[_Union[Taint, _Mapping]]] = ..., unschedulable: _Optional[bool] = ..., contracts: _Optional[_Iterable[_Union[EnergyContract, _Mapping]]] = ..., residual_mix_g_per_kwh: _Optional[float] = ...) -> None: ...

class EnergyContract(_message.Message):
    __slots__ = ("name", "type", "mwh", "start", "end", "zone", "carbon_g_per_kwh")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MWH_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    CARBON_G_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    mwh: float
    start: str
    end: str
    zone: str
    carbon_g_per_kwh: float
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., mwh: _Optional[float] = ..., start: _Optional[str] = ..., end: _Optional[str] = ..., zone: _Optional[str] = ..., carbon_g_per_kwh: _Optional[float] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("type", "status", "reason", "message", "last_transition_time")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_TRANSITION_TIME_FIELD_NUMBER: _ClassVar[int]
    type: str
    status: str
    reason: str
    message: str
    last_transition_time: str
    def __init__(self, type: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., last_transition_time: _Optional[str] = ...) -> None: ...

class EnergyStatus(_message.Message):
    __slots__ = ("it_draw_kw", "budget_kw", "renewable_kw", "carbon_g_per_kwh", "price_per_kwh", "source", "forecast", "forecast_source", "carbon_basis", "gpu_power_kw", "curtail_to_kw")
    IT_DRAW_KW_FIELD_NUMBER: _ClassVar[int]
    BUDGET_KW_FIELD_NUMBER: _ClassVar[int]
    RENEWABLE_KW_FIELD_NUMBER: _ClassVar[int]
    CARBON_G_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    FORECAST_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CARBON_BASIS_FIELD_NUMBER: _ClassVar[int]
    GPU_POWER_KW_FIELD_NUMBER: _ClassVar[int]
    CURTAIL_TO_KW_FIELD_NUMBER: _ClassVar[int]
    it_draw_kw: float
    budget_kw: float
    renewable_kw: float
    carbon_g_per_kwh: float
    price_per_kwh: float
    source: str
    forecast: _containers.RepeatedCompositeFieldContainer[ForecastPoint]
    forecast_source: str
    carbon_basis: CarbonBasis
    gpu_power_kw: float
    curtail_to_kw: float
    def __init__(self, it_draw_kw: _Optional[float] = ..., budget_kw: _Optional[float] = ..., renewable_kw: _Optional[float] = ..., carbon_g_per_kwh: _Optional[float] = ..., price_per_kwh: _Optional[float] = ..., source: _Optional[str] = ..., forecast: _Optional[_Iterable[_Union[ForecastPoint, _Mapping]]] = ..., forecast_source: _Optional[str] = ..., carbon_basis: _Optional[_Union[CarbonBasis, _Mapping]] = ..., gpu_power_kw: _Optional[float] = ..., curtail_to_kw: _Optional[float] = ...) -> None: ...

class CarbonBasis(_message.Message):
    __slots__ = ("signal", "scope", "provenance", "zone", "time", "stale", "age_seconds", "provider")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    signal: str
    scope: str
    provenance: str
    zone: str
    time: str
    stale: bool
    age_seconds: float
    provider: str
    def __init__(self, signal: _Optional[str] = ..., scope: _Optional[str] = ..., provenance: _Optional[str] = ..., zone: _Optional[str] = ..., time: _Optional[str] = ..., stale: _Optional[bool] = ..., age_seconds: _Optional[float] = ..., provider: _Optional[str] = ...) -> None: ...

class ForecastPoint(_message.Message):
    __slots__ = ("hour_offset", "carbon_g_per_kwh", "price_per_kwh")
    HOUR_OFFSET_FIELD_NUMBER: _ClassVar[int]
    CARBON_G_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    hour_offset: int
    carbon_g_per_kwh: float
    price_per_kwh: float
    def __init__(self, hour_offset: _Optional[int] = ..., carbon_g_per_kwh: _Optional[float] = ..., price_per_kwh: _Optional[float] = ...) -> None: ...

class GpuStatus(_message.Message):
    __slots__ = ("model", "memory_gb", "total", "free")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_GB_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    model: str
    memory_gb: float
    total: int
    free: int
    def __init__(self, model: _Optional[str] = ..., memory_gb: _Optional[float] = ..., total: _Optional[int] = ..., free: _Optional[int] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("conditions", "last_heartbeat_time", "energy", "gpus", "replicas", "agent_version", "rtt")
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    ENERGY_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    RTT_FIELD_NUMBER: _ClassVar[int]
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    last_heartbeat_time: str
    energy: EnergyStatus
    gpus: _containers.RepeatedCompositeFieldContainer[GpuStatus]
    replicas: _containers.RepeatedScalarFieldContainer[str]
    agent_version: str
    rtt: _containers.RepeatedCompositeFieldContainer[NodeRtt]
    def __init__(self, conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., last_heartbeat_time: _Optional[str] = ..., energy: _Optional[_Union[EnergyStatus, _Mapping]] = ..., gpus: _Optional[_Iterable[_Union[GpuStatus, _Mapping]]] = ..., replicas: _Optional[_Iterable[str]] = ..., agent_version: _Optional[str] = ..., rtt: _Optional[_Iterable[_Union[NodeRtt, _Mapping]]] = ...) -> None: ...

class NodeRtt(_message.Message):
    __slots__ = ("target", "rtt_ms", "method")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    target: str
    rtt_ms: float
    method: str
    def __init__(self, target: _Optional[str] = ..., rtt_ms: _Optional[float] = ..., method: _Optional[str] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("api_version", "kind", "metadata", "spec", "status")
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    api_version: str
    kind: str
    metadata: ObjectMeta
    spec: NodeSpec
    status: NodeStatus
    def __init__(self, api_version: _Optional[str] = ..., kind: _Optional[str] = ..., metadata: _Optional[_Union[ObjectMeta, _Mapping]] = ..., spec: _Optional[_Union[NodeSpec, _Mapping]] = ..., status: _Optional[_Union[NodeStatus, _Mapping]] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("name", "version", "artifact_uri", "runtime")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_URI_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    artifact_uri: str
    runtime: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., artifact_uri: _Optional[str] = ..., runtime: _Optional[str] = ...) -> None: ...

class ReplicaResources(_message.Message):
    __slots__ = ("gpus", "gpu_model", "gpu_memory_gb", "power_kw")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    GPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_GB_FIELD_NUMBER: _ClassVar[int]
    POWER_KW_FIELD_NUMBER: _ClassVar[int]
    gpus: int
    gpu_model: str
    gpu_memory_gb: float
    power_kw: float
    def __init__(self, gpus: _Optional[int] = ..., gpu_model: _Optional[str] = ..., gpu_memory_gb: _Optional[float] = ..., power_kw: _Optional[float] = ...) -> None: ...

class DemandPoint(_message.Message):
    __slots__ = ("name", "lat", "lon", "region", "weight", "tokens_per_s")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    name: str
    lat: float
    lon: float
    region: str
    weight: float
    tokens_per_s: float
    def __init__(self, name: _Optional[str] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., region: _Optional[str] = ..., weight: _Optional[float] = ..., tokens_per_s: _Optional[float] = ...) -> None: ...

class PlacementConstraints(_message.Message):
    __slots__ = ("tiers", "regions", "countries", "privacy", "tolerations", "min_sites")
    TIERS_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    TOLERATIONS_FIELD_NUMBER: _ClassVar[int]
    MIN_SITES_FIELD_NUMBER: _ClassVar[int]
    tiers: _containers.RepeatedScalarFieldContainer[str]
    regions: _containers.RepeatedScalarFieldContainer[str]
    countries: _containers.RepeatedScalarFieldContainer[str]
    privacy: str
    tolerations: _containers.RepeatedCompositeFieldContainer[Toleration]
    min_sites: int
    def __init__(self, tiers: _Optional[_Iterable[str]] = ..., regions: _Optional[_Iterable[str]] = ..., countries: _Optional[_Iterable[str]] = ..., privacy: _Optional[str] = ..., tolerations: _Optional[_Iterable[_Union[Toleration, _Mapping]]] = ..., min_sites: _Optional[int] = ...) -> None: ...

class Toleration(_message.Message):
    __slots__ = ("key", "value", "effect")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    effect: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ..., effect: _Optional[str] = ...) -> None: ...

class EnergyPolicy(_message.Message):
    __slots__ = ("objective", "carbon_price_usd_per_tonne", "move_horizon_hours", "move_startup_minutes")
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    CARBON_PRICE_USD_PER_TONNE_FIELD_NUMBER: _ClassVar[int]
    MOVE_HORIZON_HOURS_FIELD_NUMBER: _ClassVar[int]
    MOVE_STARTUP_MINUTES_FIELD_NUMBER: _ClassVar[int]
    objective: str
    carbon_price_usd_per_tonne: float
    move_horizon_hours: float
    move_startup_minutes: float
    def __init__(self, objective: _Optional[str] = ..., carbon_price_usd_per_tonne: _Optional[float] = ..., move_horizon_hours: _Optional[float] = ..., move_startup_minutes: _Optional[float] = ...) -> None: ...

class ModelDeploymentSpec(_message.Message):
    __slots__ = ("model", "replicas", "resources", "demand", "latency_slo_ms", "placement", "energy_policy")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    DEMAND_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SLO_MS_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    ENERGY_POLICY_FIELD_NUMBER: _ClassVar[int]
    model: ModelRef
    replicas: int
    resources: ReplicaResources
    demand: _containers.RepeatedCompositeFieldContainer[DemandPoint]
    latency_slo_ms: float
    placement: PlacementConstraints
    energy_policy: EnergyPolicy
    def __init__(self, model: _Optional[_Union[ModelRef, _Mapping]] = ..., replicas: _Optional[int] = ..., resources: _Optional[_Union[ReplicaResources, _Mapping]] = ..., demand: _Optional[_Iterable[_Union[DemandPoint, _Mapping]]] = ..., latency_slo_ms: _Optional[float] = ..., placement: _Optional[_Union[PlacementConstraints, _Mapping]] = ..., energy_policy: _Optional[_Union[EnergyPolicy, _Mapping]] = ...) -> None: ...

class PlacementExplanation(_message.Message):
    __slots__ = ("node", "rtt_ms", "carbon_g_per_kwh", "renewable_share", "headroom_kw", "price_per_kwh", "score", "rejected", "feasible_nodes", "total_nodes", "message", "gpu_model", "serves", "demand_share", "carbon_g_per_h", "rtt_source")
    class RejectedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NODE_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    CARBON_G_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    RENEWABLE_SHARE_FIELD_NUMBER: _ClassVar[int]
    HEADROOM_KW_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    FEASIBLE_NODES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_NODES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    GPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    SERVES_FIELD_NUMBER: _ClassVar[int]
    DEMAND_SHARE_FIELD_NUMBER: _ClassVar[int]
    CARBON_G_PER_H_FIELD_NUMBER: _ClassVar[int]
    RTT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    node: str
    rtt_ms: float
    carbon_g_per_kwh: float
    renewable_share: float
    headroom_kw: float
    price_per_kwh: float
    score: float
    rejected: _containers.ScalarMap[str, int]
    feasible_nodes: int
    total_nodes: int
    message: str
    gpu_model: str
    serves: _containers.RepeatedScalarFieldContainer[str]
    demand_share: float
    carbon_g_per_h: float
    rtt_source: str
    def __init__(self, node: _Optional[str] = ..., rtt_ms: _Optional[float] = ..., carbon_g_per_kwh: _Optional[float] = ..., renewable_share: _Optional[float] = ..., headroom_kw: _Optional[float] = ..., price_per_kwh: _Optional[float] = ..., score: _Optional[float] = ..., rejected: _Optional[_Mapping[str, int]] = ..., feasible_nodes: _Optional[int] = ..., total_nodes: _Optional[int] = ..., message: _Optional[str] = ..., gpu_model: _Optional[str] = ..., serves: _Optional[_Iterable[str]] = ..., demand_share: _Optional[float] = ..., carbon_g_per_h: _Optional[float] = ..., rtt_source: _Optional[str] = ...) -> None: ...

class ReplicaSummary(_message.Message):
    __slots__ = ("name", "node", "phase", "endpoint", "placement")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    node: str
    phase: str
    endpoint: str
    placement: PlacementExplanation
    def __init__(self, name: _Optional[str] = ..., node: _Optional[str] = ..., phase: _Optional[str] = ..., endpoint: _Optional[str] = ..., placement: _Optional[_Union[PlacementExplanation, _Mapping]] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("demand", "replica", "node", "share", "rtt_ms", "rtt_source", "within_slo")
    DEMAND_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    RTT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    WITHIN_SLO_FIELD_NUMBER: _ClassVar[int]
    demand: str
    replica: str
    node: str
    share: float
    rtt_ms: float
    rtt_source: str
    within_slo: bool
    def __init__(self, demand: _Optional[str] = ..., replica: _Optional[str] = ..., node: _Optional[str] = ..., share: _Optional[float] = ..., rtt_ms: _Optional[float] = ..., rtt_source: _Optional[str] = ..., within_slo: _Optional[bool] = ...) -> None: ...

class ModelDeploymentStatus(_message.Message):
    __slots__ = ("ready_replicas", "desired_replicas", "observed_generation", "replicas", "conditions", "routes", "attainment")
    READY_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    ATTAINMENT_FIELD_NUMBER: _ClassVar[int]
    ready_replicas: int
    desired_replicas: int
    observed_generation: int
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaSummary]
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    attainment: float
    def __init__(self, ready_replicas: _Optional[int] = ..., desired_replicas: _Optional[int] = ..., observed_generation: _Optional[int] = ..., replicas: _Optional[_Iterable[_Union[ReplicaSummary, _Mapping]]] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., attainment: _Optional[float] = ...) -> None: ...

class ModelDeployment(_message.Message):
    __slots__ = ("api_version", "kind", "metadata", "spec", "status")
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    api_version: str
    kind: str
    metadata: ObjectMeta
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus
    def __init__(self, api_version: _Optional[str] = ..., kind: _Optional[str] = ..., metadata: _Optional[_Union[ObjectMeta, _Mapping]] = ..., spec: _Optional[_Union[ModelDeploymentSpec, _Mapping]] = ..., status: _Optional[_Union[ModelDeploymentStatus, _Mapping]] = ...) -> None: ...

class ReplicaSpec(_message.Message):
    __slots__ = ("deployment", "node_name", "model", "resources")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    node_name: str
    model: ModelRef
    resources: ReplicaResources
    def __init__(self, deployment: _Optional[str] = ..., node_name: _Optional[str] = ..., model: _Optional[_Union[ModelRef, _Mapping]] = ..., resources: _Optional[_Union[ReplicaResources, _Mapping]] = ...) -> None: ...

class ReplicaStatus(_message.Message):
    __slots__ = ("phase", "endpoint", "message", "placement", "start_time")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    phase: str
    endpoint: str
    message: str
    placement: PlacementExplanation
    start_time: str
    def __init__(self, phase: _Optional[str] = ..., endpoint: _Optional[str] = ..., message: _Optional[str] = ..., placement: _Optional[_Union[PlacementExplanation, _Mapping]] = ..., start_time: _Optional[str] = ...) -> None: ...

class Replica(_message.Message):
    __slots__ = ("api_version", "kind", "metadata", "spec", "status")
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    api_version: str
    kind: str
    metadata: ObjectMeta
    spec: ReplicaSpec
    status: ReplicaStatus
    def __init__(self, api_version: _Optional[str] = ..., kind: _Optional[str] = ..., metadata: _Optional[_Union[ObjectMeta, _Mapping]] = ..., spec: _Optional[_Union[ReplicaSpec, _Mapping]] = ..., status: _Optional[_Union[ReplicaStatus, _Mapping]] = ...) -> None: ...

class ObjectReference(_message.Message):
    __slots__ = ("kind", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("api_version", "kind", "metadata", "involved_object", "type", "reason", "message", "time", "source")
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INVOLVED_OBJECT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    api_version: str
    kind: str
    metadata: ObjectMeta
    involved_object: ObjectReference
    type: str
    reason: str
    message: str
    time: str
    source: str
    def __init__(self, api_version: _Optional[str] = ..., kind: _Optional[str] = ..., metadata: _Optional[_Union[ObjectMeta, _Mapping]] = ..., involved_object: _Optional[_Union[ObjectReference, _Mapping]] = ..., type: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., time: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class CurtailmentSpec(_message.Message):
    __slots__ = ("node_name", "budget_kw", "duration_seconds", "reason", "requested_by")
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    BUDGET_KW_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    node_name: str
    budget_kw: float
    duration_seconds: float
    reason: str
    requested_by: str
    def __init__(self, node_name: _Optional[str] = ..., budget_kw: _Optional[float] = ..., duration_seconds: _Optional[float] = ..., reason: _Optional[str] = ..., requested_by: _Optional[str] = ...) -> None: ...

class CurtailmentStatus(_message.Message):
    __slots__ = ("phase", "start_time", "end_time", "baseline_kw", "draw_kw", "energy_shed_kwh", "time_to_shed_seconds", "message")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    BASELINE_KW_FIELD_NUMBER: _ClassVar[int]
    DRAW_KW_FIELD_NUMBER: _ClassVar[int]
    ENERGY_SHED_KWH_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_SHED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    phase: str
    start_time: str
    end_time: str
    baseline_kw: float
    draw_kw: float
    energy_shed_kwh: float
    time_to_shed_seconds: float
    message: str
    def __init__(self, phase: _Optional[str] = ..., start_time: _Optional[str] = ..., end_time: _Optional[str] = ..., baseline_kw: _Optional[float] = ..., draw_kw: _Optional[float] = ..., energy_shed_kwh: _Optional[float] = ..., time_to_shed_seconds: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class Curtailment(_message.Message):
    __slots__ = ("api_version", "kind", "metadata", "spec", "status")
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    api_version: str
    kind: str
    metadata: ObjectMeta
    spec: CurtailmentSpec
    status: CurtailmentStatus
    def __init__(self, api_version: _Optional[str] = ..., kind: _Optional[str] = ..., metadata: _Optional[_Union[ObjectMeta, _Mapping]] = ..., spec: _Optional[_Union[CurtailmentSpec, _Mapping]] = ..., status: _Optional[_Union[CurtailmentStatus, _Mapping]] = ...) -> None: ...

class Resource(_message.Message):
    __slots__ = ("node", "model_deployment", "replica", "curtailment")
    NODE_FIELD_NUMBER: _ClassVar[int]
    MODEL_DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    CURTAILMENT_FIELD_NUMBER: _ClassVar[int]
    node: Node
    model_deployment: ModelDeployment
    replica: Replica
    curtailment: Curtailment
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., model_deployment: _Optional[_Union[ModelDeployment, _Mapping]] = ..., replica: _Optional[_Union[Replica, _Mapping]] = ..., curtailment: _Optional[_Union[Curtailment, _Mapping]] = ...) -> None: ...

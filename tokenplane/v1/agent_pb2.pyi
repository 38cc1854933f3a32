from tokenplane.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JoinRequest(_message.Message):
    __slots__ = ("bootstrap_token", "node", "node_key")
    BOOTSTRAP_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    bootstrap_token: str
    node: _resources_pb2.Node
    node_key: str
    def __init__(self, bootstrap_token: _Optional[str] = ..., node: _Optional[_Union[_resources_pb2.Node, _Mapping]] = ..., node_key: _Optional[str] = ...) -> None: ...

class JoinResponse(_message.Message):
    __slots__ = ("node_name", "node_token", "node_uid", "node_token_expiration_timestamp")
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NODE_UID_FIELD_NUMBER: _ClassVar[int]
    NODE_TOKEN_EXPIRATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    node_name: str
    node_token: str
    node_uid: str
    node_token_expiration_timestamp: str
    def __init__(self, node_name: _Optional[str] = ..., node_token: _Optional[str] = ..., node_uid: _Optional[str] = ..., node_token_expiration_timestamp: _Optional[str] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "heartbeat", "replica_state", "log_reply", "credential_ack")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    REPLICA_STATE_FIELD_NUMBER: _ClassVar[int]
    LOG_REPLY_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ACK_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    heartbeat: Heartbeat
    replica_state: ReplicaState
    log_reply: LogReply
    credential_ack: CredentialAck
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., replica_state: _Optional[_Union[ReplicaState, _Mapping]] = ..., log_reply: _Optional[_Union[LogReply, _Mapping]] = ..., credential_ack: _Optional[_Union[CredentialAck, _Mapping]] = ...) -> None: ...

class CredentialAck(_message.Message):
    __slots__ = ("expiration_timestamp",)
    EXPIRATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    expiration_timestamp: str
    def __init__(self, expiration_timestamp: _Optional[str] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("node_name", "agent_version", "replicas", "applied_generation", "join")
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_GENERATION_FIELD_NUMBER: _ClassVar[int]
    JOIN_FIELD_NUMBER: _ClassVar[int]
    node_name: str
    agent_version: str
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaState]
    applied_generation: int
    join: JoinRequest
    def __init__(self, node_name: _Optional[str] = ..., agent_version: _Optional[str] = ..., replicas: _Optional[_Iterable[_Union[ReplicaState, _Mapping]]] = ..., applied_generation: _Optional[int] = ..., join: _Optional[_Union[JoinRequest, _Mapping]] = ...) -> None: ...

class GpuUsage(_message.Message):
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

class Heartbeat(_message.Message):
    __slots__ = ("seq", "it_draw_kw", "budget_kw", "renewable_kw", "carbon_g_per_kwh", "price_per_kwh", "gpus", "location", "energy_source", "rtt_samples", "forecast", "carbon_basis", "gpu_power_kw", "curtail_to_kw")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    IT_DRAW_KW_FIELD_NUMBER: _ClassVar[int]
    BUDGET_KW_FIELD_NUMBER: _ClassVar[int]
    RENEWABLE_KW_FIELD_NUMBER: _ClassVar[int]
    CARBON_G_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_KWH_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    ENERGY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    RTT_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    CARBON_BASIS_FIELD_NUMBER: _ClassVar[int]
    GPU_POWER_KW_FIELD_NUMBER: _ClassVar[int]
    CURTAIL_TO_KW_FIELD_NUMBER: _ClassVar[int]
    seq: int
    it_draw_kw: float
    budget_kw: float
    renewable_kw: float
    carbon_g_per_kwh: float
    price_per_kwh: float
    gpus: _containers.RepeatedCompositeFieldContainer[GpuUsage]
    location: _resources_pb2.Location
    energy_source: str
    rtt_samples: _containers.RepeatedCompositeFieldContainer[RttSample]
    forecast: _containers.RepeatedCompositeFieldContainer[_resources_pb2.ForecastPoint]
    carbon_basis: _resources_pb2.CarbonBasis
    gpu_power_kw: float
    curtail_to_kw: float
    def __init__(self, seq: _Optional[int] = ..., it_draw_kw: _Optional[float] = ..., budget_kw: _Optional[float] = ..., renewable_kw: _Optional[float] = ..., carbon_g_per_kwh: _Optional[float] = ..., price_per_kwh: _Optional[float] = ..., gpus: _Optional[_Iterable[_Union[GpuUsage, _Mapping]]] = ..., location: _Optional[_Union[_resources_pb2.Location, _Mapping]] = ..., energy_source: _Optional[str] = ..., rtt_samples: _Optional[_Iterable[_Union[RttSample, _Mapping]]] = ..., forecast: _Optional[_Iterable[_Union[_resources_pb2.ForecastPoint, _Mapping]]] = ..., carbon_basis: _Optional[_Union[_resources_pb2.CarbonBasis, _Mapping]] = ..., gpu_power_kw: _Optional[float] = ..., curtail_to_kw: _Optional[float] = ...) -> None: ...

class RttSample(_message.Message):
    __slots__ = ("target", "rtt_ms", "method")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    target: str
    rtt_ms: float
    method: str
    def __init__(self, target: _Optional[str] = ..., rtt_ms: _Optional[float] = ..., method: _Optional[str] = ...) -> None: ...

class ReplicaState(_message.Message):
    __slots__ = ("name", "deployment", "phase", "endpoint", "message", "generation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    deployment: str
    phase: str
    endpoint: str
    message: str
    generation: int
    def __init__(self, name: _Optional[str] = ..., deployment: _Optional[str] = ..., phase: _Optional[str] = ..., endpoint: _Optional[str] = ..., message: _Optional[str] = ..., generation: _Optional[int] = ...) -> None: ...

class ControlMessage(_message.Message):
    __slots__ = ("settings", "command", "log_request")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    LOG_REQUEST_FIELD_NUMBER: _ClassVar[int]
    settings: Settings
    command: Command
    log_request: LogRequest
    def __init__(self, settings: _Optional[_Union[Settings, _Mapping]] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., log_request: _Optional[_Union[LogRequest, _Mapping]] = ...) -> None: ...

class Settings(_message.Message):
    __slots__ = ("heartbeat_interval_ms", "server_version", "reconnect_window_ms", "probes", "credential")
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    RECONNECT_WINDOW_MS_FIELD_NUMBER: _ClassVar[int]
    PROBES_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_ms: int
    server_version: str
    reconnect_window_ms: int
    probes: ProbeSettings
    credential: NodeCredential
    def __init__(self, heartbeat_interval_ms: _Optional[int] = ..., server_version: _Optional[str] = ..., reconnect_window_ms: _Optional[int] = ..., probes: _Optional[_Union[ProbeSettings, _Mapping]] = ..., credential: _Optional[_Union[NodeCredential, _Mapping]] = ...) -> None: ...

class NodeCredential(_message.Message):
    __slots__ = ("node_token", "expiration_timestamp")
    NODE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    node_token: str
    expiration_timestamp: str
    def __init__(self, node_token: _Optional[str] = ..., expiration_timestamp: _Optional[str] = ...) -> None: ...

class ProbeSettings(_message.Message):
    __slots__ = ("targets", "interval_ms")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[ProbeTarget]
    interval_ms: int
    def __init__(self, targets: _Optional[_Iterable[_Union[ProbeTarget, _Mapping]]] = ..., interval_ms: _Optional[int] = ...) -> None: ...

class ProbeTarget(_message.Message):
    __slots__ = ("name", "address")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("generation", "deploy", "undeploy")
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    DEPLOY_FIELD_NUMBER: _ClassVar[int]
    UNDEPLOY_FIELD_NUMBER: _ClassVar[int]
    generation: int
    deploy: DeployReplica
    undeploy: UndeployReplica
    def __init__(self, generation: _Optional[int] = ..., deploy: _Optional[_Union[DeployReplica, _Mapping]] = ..., undeploy: _Optional[_Union[UndeployReplica, _Mapping]] = ...) -> None: ...

class DeployReplica(_message.Message):
    __slots__ = ("replica",)
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    replica: _resources_pb2.Replica
    def __init__(self, replica: _Optional[_Union[_resources_pb2.Replica, _Mapping]] = ...) -> None: ...

class UndeployReplica(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class LogRequest(_message.Message):
    __slots__ = ("request_id", "replica", "tail_lines")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    TAIL_LINES_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    replica: str
    tail_lines: int
    def __init__(self, request_id: _Optional[int] = ..., replica: _Optional[str] = ..., tail_lines: _Optional[int] = ...) -> None: ...

class LogReply(_message.Message):
    __slots__ = ("request_id", "text", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    text: str
    error: str
    def __init__(self, request_id: _Optional[int] = ..., text: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

from tokenplane.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApplyResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLY_RESULT_UNSPECIFIED: _ClassVar[ApplyResult]
    APPLY_RESULT_CREATED: _ClassVar[ApplyResult]
    APPLY_RESULT_CONFIGURED: _ClassVar[ApplyResult]
    APPLY_RESULT_UNCHANGED: _ClassVar[ApplyResult]

class WatchEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATCH_EVENT_TYPE_UNSPECIFIED: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_ADDED: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_MODIFIED: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_DELETED: _ClassVar[WatchEventType]
APPLY_RESULT_UNSPECIFIED: ApplyResult
APPLY_RESULT_CREATED: ApplyResult
APPLY_RESULT_CONFIGURED: ApplyResult
APPLY_RESULT_UNCHANGED: ApplyResult
WATCH_EVENT_TYPE_UNSPECIFIED: WatchEventType
WATCH_EVENT_TYPE_ADDED: WatchEventType
WATCH_EVENT_TYPE_MODIFIED: WatchEventType
WATCH_EVENT_TYPE_DELETED: WatchEventType

class ResponseHeader(_message.Message):
    __slots__ = ("revision", "server_version")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    server_version: str
    def __init__(self, revision: _Optional[int] = ..., server_version: _Optional[str] = ...) -> None: ...

class ApplyRequest(_message.Message):
    __slots__ = ("resource", "dry_run")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    resource: _resources_pb2.Resource
    dry_run: bool
    def __init__(self, resource: _Optional[_Union[_resources_pb2.Resource, _Mapping]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ApplyResponse(_message.Message):
    __slots__ = ("header", "resource", "result")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    resource: _resources_pb2.Resource
    result: ApplyResult
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., resource: _Optional[_Union[_resources_pb2.Resource, _Mapping]] = ..., result: _Optional[_Union[ApplyResult, str]] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("kind", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("header", "resource")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    resource: _resources_pb2.Resource
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., resource: _Optional[_Union[_resources_pb2.Resource, _Mapping]] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("kind", "label_selector", "as_table", "limit")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    AS_TABLE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    label_selector: str
    as_table: bool
    limit: int
    def __init__(self, kind: _Optional[str] = ..., label_selector: _Optional[str] = ..., as_table: _Optional[bool] = ..., limit: _Optional[int] = ..., **kwargs) -> None: ...

class TableColumn(_message.Message):
    __slots__ = ("name", "wide")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WIDE_FIELD_NUMBER: _ClassVar[int]
    name: str
    wide: bool
    def __init__(self, name: _Optional[str] = ..., wide: _Optional[bool] = ...) -> None: ...

class TableRow(_message.Message):
    __slots__ = ("name", "cells")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    name: str
    cells: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., cells: _Optional[_Iterable[str]] = ...) -> None: ...

class Table(_message.Message):
    __slots__ = ("columns", "rows")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[TableColumn]
    rows: _containers.RepeatedCompositeFieldContainer[TableRow]
    def __init__(self, columns: _Optional[_Iterable[_Union[TableColumn, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[TableRow, _Mapping]]] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("header", "items", "table", "remaining_item_count")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    REMAINING_ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    items: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Resource]
    table: Table
    remaining_item_count: int
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., items: _Optional[_Iterable[_Union[_resources_pb2.Resource, _Mapping]]] = ..., table: _Optional[_Union[Table, _Mapping]] = ..., remaining_item_count: _Optional[int] = ..., **kwargs) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("kind", "name", "resource_version")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    resource_version: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., resource_version: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("header", "resource")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    resource: _resources_pb2.Resource
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., resource: _Optional[_Union[_resources_pb2.Resource, _Mapping]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("kind", "label_selector", "resource_version")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    kind: str
    label_selector: str
    resource_version: str
    def __init__(self, kind: _Optional[str] = ..., label_selector: _Optional[str] = ..., resource_version: _Optional[str] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("header", "type", "resource")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    type: WatchEventType
    resource: _resources_pb2.Resource
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., type: _Optional[_Union[WatchEventType, str]] = ..., resource: _Optional[_Union[_resources_pb2.Resource, _Mapping]] = ...) -> None: ...

class CordonRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CordonResponse(_message.Message):
    __slots__ = ("header", "node")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    node: _resources_pb2.Node
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., node: _Optional[_Union[_resources_pb2.Node, _Mapping]] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("name", "timeout_s")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    name: str
    timeout_s: float
    def __init__(self, name: _Optional[str] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("header", "node", "moved")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    MOVED_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    node: _resources_pb2.Node
    moved: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., node: _Optional[_Union[_resources_pb2.Node, _Mapping]] = ..., moved: _Optional[_Iterable[str]] = ...) -> None: ...

class EventsRequest(_message.Message):
    __slots__ = ("kind", "name", "watch", "limit", "types")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    watch: bool
    limit: int
    types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., watch: _Optional[bool] = ..., limit: _Optional[int] = ..., types: _Optional[_Iterable[str]] = ...) -> None: ...

class EventsResponse(_message.Message):
    __slots__ = ("event", "count", "first_time")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_TIME_FIELD_NUMBER: _ClassVar[int]
    event: _resources_pb2.Event
    count: int
    first_time: str
    def __init__(self, event: _Optional[_Union[_resources_pb2.Event, _Mapping]] = ..., count: _Optional[int] = ..., first_time: _Optional[str] = ...) -> None: ...

class ReplicaLogsRequest(_message.Message):
    __slots__ = ("name", "tail_lines")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAIL_LINES_FIELD_NUMBER: _ClassVar[int]
    name: str
    tail_lines: int
    def __init__(self, name: _Optional[str] = ..., tail_lines: _Optional[int] = ...) -> None: ...

class ReplicaLogsResponse(_message.Message):
    __slots__ = ("node", "text")
    NODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    node: str
    text: str
    def __init__(self, node: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ListRegionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegionInfo(_message.Message):
    __slots__ = ("name", "lat", "lon", "source", "nodes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    name: str
    lat: float
    lon: float
    source: str
    nodes: int
    def __init__(self, name: _Optional[str] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., source: _Optional[str] = ..., nodes: _Optional[int] = ...) -> None: ...

class ListRegionsResponse(_message.Message):
    __slots__ = ("header", "regions")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    header: ResponseHeader
    regions: _containers.RepeatedCompositeFieldContainer[RegionInfo]
    def __init__(self, header: _Optional[_Union[ResponseHeader, _Mapping]] = ..., regions: _Optional[_Iterable[_Union[RegionInfo, _Mapping]]] = ...) -> None: ...

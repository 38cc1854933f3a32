"""Converting resources between pydantic models and their protobuf messages.

The two share field names through proto3's JSON mapping (lowerCamelCase), so
the conversion is a JSON-shaped dict in the middle, with no per-field code to
keep in step. Fleet API traffic is small; the hot heartbeat path never comes here.
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

from google.protobuf import json_format
from google.protobuf.message import Message

from controlplane.resources.curtailment import Curtailment
from controlplane.resources.deployment import ModelDeployment
from controlplane.resources.event import Event
from controlplane.resources.manifest import ManifestError, Resource, parse_manifest
from controlplane.resources.node import Node
from controlplane.resources.replica import Replica
from tokenplane.v1 import resources_pb2 as pb

_MESSAGES: dict[type, type[Message]] = {
    Node: pb.Node,
    ModelDeployment: pb.ModelDeployment,
    Replica: pb.Replica,
    Curtailment: pb.Curtailment,
    Event: pb.Event,
}
# Resource.oneof field for each kind.
ONEOF_FIELD = {
    "Node": "node",
    "ModelDeployment": "model_deployment",
    "Replica": "replica",
    "Curtailment": "curtailment",
}


@overload
def to_message(model: Node) -> pb.Node: ...
@overload
def to_message(model: ModelDeployment) -> pb.ModelDeployment: ...
@overload
def to_message(model: Replica) -> pb.Replica: ...
@overload
def to_message(model: Curtailment) -> pb.Curtailment: ...
@overload
def to_message(model: Event) -> pb.Event: ...
@overload
def to_message(model: Resource | Event) -> Message: ...
def to_message(model: Resource | Event) -> Message:
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json_format.ParseDict(data, _MESSAGES[type(model)]())


M = TypeVar("M", Node, ModelDeployment, Replica, Curtailment, Event)


def from_message(message: Message, model: type[M]) -> M:
    return model.model_validate(message_dict(message))


def to_resource(model: Resource) -> pb.Resource:
    resource = pb.Resource()
    getattr(resource, ONEOF_FIELD[model.kind]).CopyFrom(to_message(model))
    return resource


def from_resource(resource: pb.Resource, source: str = "resource") -> Resource:
    """Validates like a manifest: raises ManifestError naming each bad field."""
    field = resource.WhichOneof("resource")
    if field is None:
        raise ManifestError(
            [(source, "empty; set one of node, modelDeployment, replica, curtailment")]
        )
    return parse_manifest(message_dict(getattr(resource, field)), source)


def message_dict(message: Message) -> dict[str, Any]:
    """A message as the manifest dict it maps onto (camelCase keys).

    Scalars without presence are printed even when zero: a node at longitude 0
    has a longitude. Fields marked `optional`, and unset messages, stay absent.
    """
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)

"""Metadata and conditions common to every resource."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

API_VERSION: Final = "tokenplane.io/v1"

# DNS-1123 subdomain, as Kubernetes requires of object names.
Name = Annotated[
    str,
    StringConstraints(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
]


class Model(BaseModel):
    """Base of every manifest model: camelCase in YAML, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=False
    )


class ObjectMeta(Model):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    resource_version: str = ""
    uid: str = ""
    creation_timestamp: str = ""
    generation: int = 0


class Condition(Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""


class Manifest(Model):
    """Fields every top-level resource has; subclasses narrow `kind`, spec and status."""

    api_version: Literal["tokenplane.io/v1"] = API_VERSION
    kind: str
    metadata: ObjectMeta

    @property
    def name(self) -> str:
        return self.metadata.name

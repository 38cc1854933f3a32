"""Metadata and conditions common to every resource."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from controlplane.resources.limits import (
    MAX_ANNOTATION_BYTES,
    MAX_LABEL_KEY_CHARS,
    MAX_LABEL_VALUE_CHARS,
    MAX_LABELS,
    MAX_NAME_CHARS,
)

API_VERSION: Final = "tokenplane.io/v1"

# DNS-1123 subdomain, as Kubernetes requires of object names.
Name = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME_CHARS, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_KEY_CHARS)]
LabelValue = Annotated[str, StringConstraints(max_length=MAX_LABEL_VALUE_CHARS)]


class Model(BaseModel):
    """Base of every manifest model: camelCase in YAML, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=False,
        allow_inf_nan=False,  # .inf in YAML, or Infinity on the wire, is no figure of ours
    )


class ObjectMeta(Model):
    name: Name
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=MAX_LABELS)
    annotations: dict[str, str] = Field(default_factory=dict)
    resource_version: str = ""
    uid: str = ""
    creation_timestamp: str = ""
    generation: int = 0

    @field_validator("annotations")
    @classmethod
    def _annotations_bounded(cls, annotations: dict[str, str]) -> dict[str, str]:
        size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
        if size > MAX_ANNOTATION_BYTES:
            raise ValueError(
                f"{size:,} bytes of keys and values in all; at most {MAX_ANNOTATION_BYTES:,}"
            )
        return annotations


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

"""Event: a decision of the scheduler or reconciler and why, for `tpctl describe`."""

from __future__ import annotations

from typing import Literal

from controlplane.resources.meta import Manifest, Model


class ObjectReference(Model):
    kind: str
    name: str


class Event(Manifest):
    kind: Literal["Event"] = "Event"
    involved_object: ObjectReference
    type: Literal["Normal", "Warning"] = "Normal"
    reason: str
    message: str
    time: str = ""
    source: str = ""

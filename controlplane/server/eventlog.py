"""Every event the control plane records is also a structured log line.

Events are where the parts already say what changed (NodeReady, NodeNotReady,
Scheduled, Moved, Drained, ...), so logging them in one place puts every state
transition in the logs at info (warning for Warning events), with the object and the
reason as fields an SRE can filter on, without a log call beside each event.
"""

from __future__ import annotations

import logging
from typing import Literal

from controlplane.objects import ObjectStore
from controlplane.resources import Event
from controlplane.resources.event import ObjectReference

log = logging.getLogger("controlplane.events")


class LoggingObjectStore(ObjectStore):
    """An ObjectStore whose `record_event` logs the event before it stores it."""

    async def record_event(
        self,
        involved: ObjectReference,
        reason: str,
        message: str,
        *,
        type_: Literal["Normal", "Warning"] = "Normal",
        source: str = "",
    ) -> Event:
        log.log(
            logging.WARNING if type_ == "Warning" else logging.INFO,
            "%s %s/%s: %s",
            reason,
            involved.kind.lower(),
            involved.name,
            message,
            extra={
                "event": reason,
                "kind": involved.kind,
                "object": involved.name,
                "source": source,
            },
        )
        return await super().record_event(involved, reason, message, type_=type_, source=source)

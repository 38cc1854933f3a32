"""Curtailment: a site's power budget lowered for a while, by an operator or a grid signal.

The record says who asked, how much, for how long and why (spec), and what
happened (status): when the event started and ended, the site's draw before and
during it, how soon the draw fit the lowered budget, and the energy not drawn.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controlplane.resources.meta import Manifest, Model

CurtailmentPhase = Literal["Pending", "Active", "Ended"]


class CurtailmentSpec(Model):
    node_name: str = Field(min_length=1)  # the site (a Node's name) whose budget drops
    budget_kw: float = Field(ge=0)  # the site's power budget while the event lasts, kW
    duration_seconds: float = Field(gt=0)  # on the server's clock (simulated under tpctl up)
    reason: str = ""  # why, for the record: e.g. the grid operator's event id
    requested_by: str = ""  # set by the server: the caller's token name, or feed:NODE


class CurtailmentStatus(Model):
    phase: CurtailmentPhase = "Pending"
    start_time: str = ""
    end_time: str = ""
    baseline_kw: float = 0  # the site's IT draw when the event started
    draw_kw: float = 0  # the site's IT draw now (at the end, once Ended)
    energy_shed_kwh: float = 0  # the baseline less the draw, over the event
    time_to_shed_seconds: float | None = None  # from the start until the draw first fit
    message: str = ""


class Curtailment(Manifest):
    kind: Literal["Curtailment"] = "Curtailment"
    spec: CurtailmentSpec
    status: CurtailmentStatus = Field(default_factory=CurtailmentStatus)

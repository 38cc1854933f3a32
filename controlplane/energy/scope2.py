"""Carbon accounting that keeps kinds apart: Scope 2 both ways, and measured power before declared.

Three rules, as pure functions over plain figures:

- **Kinds are never added.** An average and a marginal intensity, or a direct and
  a lifecycle one, are different quantities. `carbon_kind` names a figure's kind
  (`average/lifecycle`, `marginal/direct`, ...); totals are kept per kind.
- **GHG Protocol Scope 2 dual reporting** (Scope 2 Guidance, 2015). Location-based:
  the grid's average intensity where the electricity is used (on-site renewable
  supply counted as zero). Market-based: the electricity a site's contracts
  (PPAs, certificates) cover, at the contracts' factor, the rest at the zone's
  residual mix. A contract counts only in its own zone (the market boundary) and
  its hours; its MWh are spread evenly over those hours, so a short run is
  credited with its share of a year's contract, not all of it. Where a site
  declares no residual mix, the grid average stands in (said so: the real
  residual mix is usually higher, so this flatters the market-based figure).
  Both are defined for average intensities only: a marginal figure gets neither.
- **Measured power first.** Where a node's agent reports NVML's GPU board power,
  its replicas' power is that measurement, shared by GPU count among the replicas
  serving there; else each replica's declared `powerKw`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from controlplane.resources.node import CarbonBasis, EnergyContract

UNKNOWN_KIND = "unknown"


def carbon_kind(basis: CarbonBasis | None) -> str:
    """E.g. "average/lifecycle"; "unknown" where the source did not say."""
    return f"{basis.signal}/{basis.scope}" if basis else UNKNOWN_KIND


def replica_power_kw(
    declared_kw: float, gpus: int, node_gpu_power_kw: float | None, node_gpus_serving: int
) -> tuple[float, bool]:
    """(power, measured?): the replica's share of its node's measured GPU power, else declared."""
    if node_gpu_power_kw is None or gpus <= 0 or node_gpus_serving <= 0:
        return declared_kw, False
    return node_gpu_power_kw * gpus / node_gpus_serving, True


def contract_kw(contract: EnergyContract, when: datetime) -> float:
    """The contract's supply at `when`, kW: its MWh spread evenly over its hours; 0 outside them."""
    if not contract.start <= when < contract.end:
        return 0.0
    hours = (contract.end - contract.start).total_seconds() / 3600
    return contract.mwh * 1000 / hours


@dataclass(frozen=True, slots=True)
class SiteCarbon:
    """Grams per kWh of a site's IT draw now, both ways; market_* None for a marginal figure."""

    location_g_per_kwh: float
    market_g_per_kwh: float | None
    contract_share: float  # of the grid draw, covered by contracts
    residual_is_grid_average: bool  # no residual mix declared: the grid average stood in


def site_carbon(
    *,
    grid_g_per_kwh: float,
    basis: CarbonBasis | None,
    renewable_share: float,
    draw_kw: float,
    contracts: Iterable[EnergyContract],
    residual_mix_g_per_kwh: float | None,
    when: datetime,
) -> SiteCarbon:
    """One site at one moment: location-based and market-based intensity of its draw."""
    location = grid_g_per_kwh * (1 - renewable_share)
    if basis is None or basis.signal != "average":
        return SiteCarbon(location, None, 0.0, residual_mix_g_per_kwh is None)
    grid_kw = max(0.0, draw_kw * (1 - renewable_share))
    residual = grid_g_per_kwh if residual_mix_g_per_kwh is None else residual_mix_g_per_kwh
    if grid_kw <= 0:  # all on-site renewable, or no draw: nothing from the grid to attribute
        return SiteCarbon(location, location, 0.0, residual_mix_g_per_kwh is None)
    left_kw, grams_per_h = grid_kw, 0.0
    in_zone = [c for c in contracts if basis.zone and c.zone == basis.zone]
    for c in sorted(in_zone, key=lambda c: c.carbon_g_per_kwh):  # cleanest supply first
        take_kw = min(left_kw, contract_kw(c, when))
        grams_per_h += take_kw * c.carbon_g_per_kwh
        left_kw -= take_kw
    grams_per_h += left_kw * residual
    covered = 1 - left_kw / grid_kw
    return SiteCarbon(location, grams_per_h / draw_kw, covered, residual_mix_g_per_kwh is None)

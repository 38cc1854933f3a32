"""The report of a local fleet's run: carbon per million tokens, demand within SLO, moves.

Computed from the recorder's samples alone (so it can be made after `tpctl
down`), each sample standing for the simulated time until the next:

- **carbon per million tokens**: for every serving replica, its power (spec
  powerKw) times its site's attributed carbon now (grid intensity x (1 -
  renewable share of the site's draw)), over the tokens it produced at its
  declared throughput (annotation tokenplane.io/tokens-per-second; the samples'
  figures are assumptions, see deployments.py). IT power only, PUE left out.
- **renewable share**: of the serving replicas' power, weighted by power.
- **demand within SLO**: each deployment's demand now (population weights x
  the daily shape at each point's local time) at the points whose route (the
  nearest Running replica, as the deployment's status gives it to gateways)
  is within the SLO, over all of its demand now: the ATTAINMENT of `tpctl get
  deployments`, weighed by the hour. A move under way keeps the old replica's
  routes until the new one runs. Samples recorded before routes were sampled
  count the serving replicas whose placement RTT met the SLO instead.
- **moves**: replicas started to replace another (make-before-break), counted
  once each.
- **power-budget violations**: nodes that drew more than their budget.
- **carbon by kind** (controlplane/energy/scope2.py): each kind of carbon figure
  (average or marginal, direct or lifecycle) totalled apart, never added to
  another; the headline figure is shown only where one kind covers the run. For
  average figures, GHG Protocol Scope 2 dual reporting: location-based (the
  grid's average) and market-based (the sites' contracts, the rest at the
  residual mix). Each kind says how much of its power NVML measured and how much
  of its carbon figure was measured, forecast, modelled or declared.

matplotlib is imported only to draw the plot.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controlplane.extras import require
from controlplane.localfleet.observe import SERVING, DeploymentNow, FleetNow, ReplicaNow

FOOTNOTES = (
    "carbon: replica IT power x its site's grid carbon x (1 - the site's renewable share), "
    "over tokens at each deployment's declared tokens/s (tokenplane.io/tokens-per-second; "
    "assumed for the samples, not measured)",
    "replayed: grid carbon and price of 2023's hours in the 16 zones of the shipped extract "
    "(Electricity Maps, ODbL; market prices)",
    "modelled, not measured: clear-sky solar (pvlib), annual grid carbon per country "
    "elsewhere (codecarbon's energy-mix data), demand from city populations (GeoNames) "
    "with an assumed daily shape",
)


@dataclass
class KindTotals:
    """Sums over time of the serving replicas whose site's carbon figure is of one kind."""

    grams: float = 0.0  # g/h x s, location-based for an average figure
    market_grams: float | None = 0.0  # g/h x s, market-based; None once a figure was marginal
    tokens: float = 0.0  # tokens/h x s
    power: float = 0.0  # kW x s
    measured_power: float = 0.0  # kW x s of `power` that NVML measured
    contract_power: float = 0.0  # kW x s of grid draw covered by contracts
    residual_is_grid: bool = False  # some site declared no residual mix
    provenance: dict[str, float] = field(default_factory=dict)  # kW x s by provenance

    def add(self, r: ReplicaNow, dt_s: float, tokens_per_h: float) -> None:
        kw_s = dt_s * r.power_kw
        self.grams += kw_s * r.carbon_g_per_kwh
        if self.market_grams is not None and r.market_carbon_g_per_kwh is not None:
            self.market_grams += kw_s * r.market_carbon_g_per_kwh
        else:
            self.market_grams = None
        self.tokens += dt_s * tokens_per_h
        self.power += kw_s
        self.measured_power += kw_s if r.power_measured else 0.0
        self.contract_power += kw_s * (1 - r.renewable_share) * r.contract_share
        self.residual_is_grid |= r.residual_is_grid
        key = r.carbon_provenance or "unknown"
        self.provenance[key] = self.provenance.get(key, 0.0) + kw_s


@dataclass(frozen=True)
class KindLine:
    """One kind's figures for the report (the fleet's serving replicas of that kind)."""

    kind: str  # e.g. average/lifecycle
    g_per_mtok: float | None  # the kind's own figure: location-based for an average
    market_g_per_mtok: float | None  # Scope 2 market-based; None for marginal figures
    token_share: float  # of the fleet's tokens
    measured_power_share: float  # of the kind's power, NVML-measured
    contract_share: float  # of the kind's power, covered by contracts
    residual_is_grid: bool
    provenance: dict[str, float]  # share of the kind's power by its figure's provenance

    @classmethod
    def of(cls, kind: str, t: KindTotals, fleet_tokens: float) -> KindLine:
        def per_mtok(grams: float | None) -> float | None:
            return grams / t.tokens * 1e6 if grams is not None and t.tokens else None

        power = t.power or 1.0
        return cls(
            kind=kind,
            g_per_mtok=per_mtok(t.grams),
            market_g_per_mtok=per_mtok(t.market_grams if kind.startswith("average/") else None),
            token_share=t.tokens / fleet_tokens if fleet_tokens else 0.0,
            measured_power_share=t.measured_power / power,
            contract_share=t.contract_power / power,
            residual_is_grid=t.residual_is_grid,
            provenance={k: v / power for k, v in sorted(t.provenance.items())},
        )


@dataclass
class Totals:
    """Sums over time (simulated seconds as weights) of one deployment or the fleet."""

    grams: float = 0.0  # g/h x s
    tokens: float = 0.0  # tokens/h x s
    power: float = 0.0  # kW x s
    renewable: float = 0.0  # renewable kW x s
    demand: float = 0.0
    demand_within: float = 0.0
    kinds: dict[str, KindTotals] = field(default_factory=lambda: defaultdict(KindTotals))

    def carbon_g_per_mtok(self) -> float | None:
        """Carbon per million tokens where one kind of figure covers it all; else None."""
        if len(self.kinds) > 1:
            return None  # e.g. averages and margins: see the report's carbon by kind
        return self.grams / self.tokens * 1e6 if self.tokens else None

    def renewable_share(self) -> float | None:
        return self.renewable / self.power if self.power else None

    def slo_share(self) -> float | None:
        return self.demand_within / self.demand if self.demand else None


@dataclass(frozen=True)
class Line:
    name: str
    carbon_g_per_mtok: float | None
    renewable_share: float | None
    slo_share: float | None
    moves: int


@dataclass(frozen=True)
class Report:
    sim_start: str
    sim_end: str
    samples: int
    fleet: Line
    deployments: list[Line]
    over_budget: list[str]  # nodes that ever drew more than their budget
    carbon_by_kind: list[KindLine] = field(default_factory=list)  # the fleet's, never added

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "footnotes": [*FOOTNOTES, *KIND_FOOTNOTES]}


def load_samples(path: Path) -> list[FleetNow]:
    samples = []
    with open(path) as f:
        for line in f:
            if line.strip():
                samples.append(FleetNow.from_json(json.loads(line)))
    return samples


def _weights(samples: list[FleetNow]) -> list[float]:
    """Simulated seconds each sample stands for: until the next (the last: as the one before)."""
    gaps = [b.sim_s - a.sim_s for a, b in itertools.pairwise(samples)]
    return [*gaps, gaps[-1] if gaps else 1.0]


def add_sample(totals: dict[str, Totals], sample: FleetNow, dt_s: float) -> None:
    """Adds one sample, weighted by `dt_s`, to each deployment's totals and the fleet's ('')."""
    tokens_per_s = {d.name: d.tokens_per_s for d in sample.deployments}
    for r in sample.replicas:
        if r.phase != SERVING:
            continue
        tokens_per_h = (tokens_per_s.get(r.deployment) or 0.0) * 3600
        for key in (r.deployment, ""):
            t = totals[key]
            t.grams += dt_s * r.power_kw * r.carbon_g_per_kwh
            t.power += dt_s * r.power_kw
            t.renewable += dt_s * r.power_kw * r.renewable_share
            t.tokens += dt_s * tokens_per_h
            t.kinds[r.carbon_kind].add(r, dt_s, tokens_per_h)
    for d in sample.deployments:
        for key in (d.name, ""):
            totals[key].demand += dt_s * d.demand_now
            totals[key].demand_within += dt_s * _demand_within(sample, d)


def _demand_within(sample: FleetNow, d: DeploymentNow) -> float:
    """Demand now served within the SLO: by the routes, else (older samples) by replica RTT."""
    if d.demand_within_now is not None:
        return d.demand_within_now
    slo = d.latency_slo_ms
    within = sum(
        1
        for r in sample.replicas
        if r.deployment == d.name and r.phase == SERVING and (slo is None or r.rtt_ms <= slo)
    )
    return d.demand_now * (min(1.0, within / d.desired) if d.desired else 1.0)


def moves(samples: Iterable[FleetNow]) -> dict[str, set[str]]:
    """Per deployment, the replicas that moved in for another."""
    moved: dict[str, set[str]] = defaultdict(set)
    for sample in samples:
        for r in sample.replicas:
            if r.replaces:
                moved[r.deployment].add(r.name)
    return moved


def _iso(sim_s: float) -> str:
    return datetime.fromtimestamp(sim_s, UTC).isoformat(timespec="minutes")


def summarise(samples: list[FleetNow]) -> Report:
    totals: dict[str, Totals] = defaultdict(Totals)
    for sample, dt_s in zip(samples, _weights(samples), strict=True):
        add_sample(totals, sample, dt_s)
    moved = moves(samples)
    names = sorted({d.name for s in samples for d in s.deployments})

    def line(name: str, key: str, n_moves: int) -> Line:
        t = totals[key]
        return Line(name, t.carbon_g_per_mtok(), t.renewable_share(), t.slo_share(), n_moves)

    return Report(
        sim_start=_iso(samples[0].sim_s),
        sim_end=_iso(samples[-1].sim_s),
        samples=len(samples),
        fleet=line("fleet", "", sum(len(v) for v in moved.values())),
        deployments=[line(n, n, len(moved.get(n, ()))) for n in names],
        over_budget=sorted({n for s in samples for n in s.over_budget}),
        carbon_by_kind=[
            KindLine.of(kind, t, totals[""].tokens) for kind, t in sorted(totals[""].kinds.items())
        ],
    )


def _fmt(value: float | None, spec: str, scale: float = 1.0, suffix: str = "") -> str:
    return "-" if value is None else f"{value * scale:{spec}}{suffix}"


def rows(report: Report) -> list[list[str]]:
    """The table: one row per deployment, the fleet last."""
    return [
        [
            line.name,
            _fmt(line.carbon_g_per_mtok, ".1f"),
            _fmt(line.renewable_share, ".0f", 100, "%"),
            _fmt(line.slo_share, ".1f", 100, "%"),
            str(line.moves),
        ]
        for line in [*report.deployments, report.fleet]
    ]


HEADERS = ["DEPLOYMENT", "gCO2/Mtok", "RENEWABLE", "DEMAND IN SLO", "MOVES"]

KIND_HEADERS = [
    "CARBON KIND",
    "gCO2/Mtok",
    "MARKET-BASED",
    "TOKENS",
    "CONTRACTS",
    "POWER MEASURED",
    "FIGURES",
]


def kind_rows(report: Report) -> list[list[str]]:
    """Carbon by kind, one row each, never summed: Scope 2 both ways for averages."""
    return [
        [
            k.kind,
            _fmt(k.g_per_mtok, ".1f"),
            _fmt(k.market_g_per_mtok, ".1f")
            + ("†" if k.residual_is_grid and k.market_g_per_mtok is not None else ""),
            _fmt(k.token_share, ".0f", 100, "%"),
            _fmt(k.contract_share, ".0f", 100, "%"),
            _fmt(k.measured_power_share, ".0f", 100, "%"),
            " ".join(f"{name} {share * 100:.0f}%" for name, share in k.provenance.items()),
        ]
        for k in report.carbon_by_kind
    ]


KIND_FOOTNOTES = (
    "carbon by kind: average and marginal, direct and lifecycle figures are different "
    "quantities, each totalled apart; gCO2/Mtok above is '-' where a run mixes them",
    "GHG Protocol Scope 2 dual reporting, for average figures: gCO2/Mtok is location-based "
    "(the grid's average where the power is used), MARKET-BASED counts the sites' contracts "
    "(PPA, certificates) in their zone and hours and the rest at the residual mix; a marginal "
    "figure is neither",
    "†: no residual mix declared (spec.residualMixGPerKwh): the grid average stood in, which "
    "flatters the market-based figure",
    "POWER MEASURED: share of replica power from NVML board power (the rest: declared powerKw); "
    "FIGURES: share of power by the carbon figure's provenance",
)


def deployments_that_ran(samples: list[FleetNow]) -> list[str]:
    """Deployments with a Running replica in some sample: the only ones worth a line."""
    return sorted({d.name for s in samples for d in s.deployments if d.running > 0})


def moves_per_hour(samples: list[FleetNow]) -> dict[datetime, int]:
    """Replicas that moved in (make-before-break), counted per simulated hour they appeared."""
    first_seen: dict[str, datetime] = {}
    for s in samples:
        for r in s.replicas:
            if r.replaces:
                first_seen.setdefault(r.name, datetime.fromtimestamp(s.sim_s, UTC))
    return dict(
        sorted(
            Counter(
                t.replace(minute=0, second=0, microsecond=0) for t in first_seen.values()
            ).items()
        )
    )


def plot(samples: list[FleetNow], path: Path, title: str = "") -> None:
    """Carbon per million tokens and renewable share over simulated time, per deployment that
    ran and for the fleet; below, moves per simulated hour. The legend sits outside the data."""
    require("report", "the report's plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = [datetime.fromtimestamp(s.sim_s, UTC) for s in samples]
    series: dict[str, tuple[list[float], list[float]]] = {}
    for key in ["", *deployments_that_ran(samples)]:
        carbon, renewable = [], []
        for s in samples:
            t: dict[str, Totals] = defaultdict(Totals)
            add_sample(t, s, 1.0)
            g_per_mtok, share = t[key].carbon_g_per_mtok(), t[key].renewable_share()
            carbon.append(float("nan") if g_per_mtok is None else g_per_mtok)
            renewable.append(float("nan") if share is None else 100 * share)
        series[key] = (carbon, renewable)
    fig, (top, middle, bottom) = plt.subplots(
        3, 1, sharex=True, figsize=(11, 7.5), gridspec_kw={"height_ratios": [3, 3, 1.4]}
    )
    for key, (carbon, renewable) in series.items():
        style: dict[str, Any] = (
            {"color": "black", "linewidth": 2.2, "label": "fleet"}
            if not key
            else {"linewidth": 1, "alpha": 0.8, "label": key}
        )
        top.plot(times, carbon, **style)
        middle.plot(times, renewable, **style)
    moves = moves_per_hour(samples)
    bottom.bar(list(moves), list(moves.values()), width=1 / 24, align="edge", color="grey")
    top.set_ylabel("gCO2 per million tokens")
    middle.set_ylabel("renewable share (%)")
    middle.set_ylim(-2, 102)
    bottom.set_ylabel("moves / hour")
    bottom.set_xlabel("simulated time (UTC); moves: replicas moved make-before-break")
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M"))
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    top.set_title(
        title or "tokenplane local fleet: clear-sky solar, grid carbon of real 2023 hours"
    )
    for ax in (top, middle, bottom):
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)

"""The control plane's own carbon and price forecast against persistence, on 2023's real hours.

Run: `.venv/bin/python benchmarks/forecast_error.py [--data ../shared/data] [--carbon direct]`.

For each of the 16 grid zones of `grid/carbon_2023` (Electricity Maps, hourly)
and their prices (`grid/price_2023`, GB priced as DE-LU, as in
quality_data.py), every hour of 2023 from the second week on is a forecast
origin: each method sees the hours up to and including it and forecasts the
next 24. Errors at 6, 12 and 24 hours ahead, for the figure at that hour and
for the mean over the hours up to it (what re-planning compares: a move pays
back over its horizon's mean), pooled over zones and origins:

- **persistence**: the current hour held (the baseline);
- **seasonal-naive (1 day)**: the same hour yesterday;
- **seasonal-naive (7 days)**: the mean of the same hour over the past week;
- **ours** (`controlplane.energy.forecast.seasonal_naive`, the default): the
  week's mean at that hour plus today's departure from it, fading by
  `damping` per hour (a blend with persistence).

MAPE is over hours whose actual carbon is >= 1 g/kWh; prices can be negative,
so their error is MAE only. The damping sweep shows how the default was chosen
(on these same hours: in-sample).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controlplane.energy.forecast import (  # noqa: E402
    DEFAULT_DAMPING,
    DEFAULT_DAYS,
    FloatArray,
    persistence,
    seasonal_naive,
)

DATA_DIR = REPO.parent / "shared" / "data"
ZONES = (
    "US-CAL-CISO", "US-TEX-ERCO", "US-NY-NYIS", "US-MIDA-PJM", "DE-LU", "GB", "CA-ON", "BR-SP",
    "CL-SIC", "ZA", "AU-NSW", "AU-VIC", "IN-WE", "JP-TK", "KR", "SG",
)  # fmt: skip
PRICE_PROXY = {"GB": "DE-LU"}
HORIZONS_H = (6, 12, 24)
WINDOW_H = 7 * 24  # history each origin sees
CARBON_COLUMNS = {"direct": 4, "lca": 5}
MAPE_FLOOR = 1.0

Method = Callable[[FloatArray, int], FloatArray]


def read_year(path: Path, column: int) -> FloatArray:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    if len(rows) < 8760:
        raise SystemExit(f"forecast_error: {path} has {len(rows)} hours, expected 8760")
    return np.array([float(r[column]) for r in rows[:8760]])


def load(data: Path, carbon: str) -> tuple[FloatArray, FloatArray]:
    """(Z, 8760) carbon g/kWh and price $/MWh."""
    carbon_dir, price_dir = data / "grid" / "carbon_2023", data / "grid" / "price_2023"
    if not carbon_dir.exists() or not price_dir.exists():
        raise SystemExit(
            f"forecast_error: {carbon_dir} or {price_dir} is missing; pass --data, the shared "
            "data directory (see its README)"
        )
    col = CARBON_COLUMNS[carbon]
    c = np.array([read_year(carbon_dir / f"{z}.csv", col) for z in ZONES])
    p = np.array([read_year(price_dir / f"{PRICE_PROXY.get(z, z)}.csv", 2) for z in ZONES])
    return c, p


def forecasts(series: FloatArray, method: Method, horizon_h: int) -> tuple[FloatArray, FloatArray]:
    """(origins, Z, horizon_h) forecasts and the actual hours, every origin of the year."""
    origins = range(WINDOW_H - 1, series.shape[1] - horizon_h)
    predicted = np.array([method(series[:, t - WINDOW_H + 1 : t + 1], horizon_h) for t in origins])
    actual = np.array([series[:, t + 1 : t + 1 + horizon_h] for t in origins])
    return predicted, actual


def errors(series: FloatArray, method: Method, mape: bool) -> dict[str, float]:
    """MAE (and MAPE) at each horizon: the point at that hour, and the mean up to it."""
    predicted, actual = forecasts(series, method, max(HORIZONS_H))
    origins = range(WINDOW_H - 1, series.shape[1] - max(HORIZONS_H))
    now = np.array([series[:, t] for t in origins])  # (O, Z)
    out = {}
    for h in HORIZONS_H:
        point_p, point_a = predicted[:, :, h - 1], actual[:, :, h - 1]
        # the mean over the horizon, the current hour included (horizon_mean, vectorised)
        mean_p = (now + predicted[:, :, : h - 1].sum(axis=2)) / h
        mean_a = (now + actual[:, :, : h - 1].sum(axis=2)) / h
        out[f"mae{h}"] = float(np.mean(np.abs(point_p - point_a)))
        out[f"mean_mae{h}"] = float(np.mean(np.abs(mean_p - mean_a)))
        if mape:
            ok = point_a >= MAPE_FLOOR
            out[f"mape{h}"] = float(100 * np.mean(np.abs(point_p - point_a)[ok] / point_a[ok]))
            ok = mean_a >= MAPE_FLOOR
            out[f"mean_mape{h}"] = float(100 * np.mean(np.abs(mean_p - mean_a)[ok] / mean_a[ok]))
    return out


METHODS: dict[str, Method] = {
    "persistence": persistence,
    "seasonal-naive (1 day)": lambda h, k: seasonal_naive(h, k, days=1, damping=0.0),
    "seasonal-naive (7 days)": lambda h, k: seasonal_naive(h, k, days=7, damping=0.0),
    f"ours (7 days, damping {DEFAULT_DAMPING})": seasonal_naive,
}


def table(title: str, results: dict[str, dict[str, float]], mape: bool, unit: str) -> None:
    print(f"### {title}\n")
    head = " | ".join(
        f"{h} h: MAE{' / MAPE' if mape else ''}, point | mean to {h} h" for h in HORIZONS_H
    )
    print(f"| method | {head} |")
    print("|---|" + "---:|---:|" * len(HORIZONS_H))
    for name, e in results.items():
        cells = []
        for h in HORIZONS_H:
            for key in (f"mae{h}", f"mean_mae{h}"):
                pct = key.replace("mae", "mape")
                cells.append(f"{e[key]:.1f}" + (f" / {e[pct]:.1f}%" if mape else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nMAE in {unit}.\n")


def per_zone(carbon: FloatArray, horizon_h: int) -> None:
    print(f"### Carbon, per zone: MAPE of the mean over the next {horizon_h} h\n")
    print("| zone | mean g/kWh | persistence | ours |")
    print("|---|---:|---:|---:|")
    for z, series in zip(ZONES, carbon, strict=True):
        row = series[None, :]
        p = errors(row, METHODS["persistence"], mape=True)[f"mean_mape{horizon_h}"]
        o = errors(row, seasonal_naive, mape=True)[f"mean_mape{horizon_h}"]
        print(f"| {z} | {series.mean():.0f} | {p:.1f}% | {o:.1f}% |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the shared data directory")
    parser.add_argument("--carbon", default="direct", choices=sorted(CARBON_COLUMNS))
    args = parser.parse_args()
    t0 = time.perf_counter()
    carbon, price = load(args.data, args.carbon)
    print(
        f"## Forecast error: {len(ZONES)} zones, 2023, {args.carbon} carbon, "
        f"{carbon.shape[1] - WINDOW_H - max(HORIZONS_H) + 1} origins a zone\n"
    )
    table(
        "Carbon",
        {name: errors(carbon, m, mape=True) for name, m in METHODS.items()},
        True,
        "gCO2/kWh",
    )
    table(
        "Price",
        {name: errors(price, m, mape=False) for name, m in METHODS.items()},
        False,
        "$/MWh",
    )
    per_zone(carbon, 6)
    print(f"### Damping sweep (carbon MAE, g/kWh; {DEFAULT_DAYS} days)\n")
    print("| damping | " + " | ".join(f"point {h} h | mean to {h} h" for h in HORIZONS_H) + " |")
    print("|---:|" + "---:|---:|" * len(HORIZONS_H))
    for damping in (0.0, 0.8, 0.9, 0.95, 1.0):
        e = errors(carbon, lambda h, k, d=damping: seasonal_naive(h, k, damping=d), mape=False)
        cells = [f"{e[k]:.1f}" for h in HORIZONS_H for k in (f"mae{h}", f"mean_mae{h}")]
        print(f"| {damping} | " + " | ".join(cells) + " |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

"""Rebuilds `grid_2023.npz`: a year of real hourly grid carbon and price for 16 zones.

`tpctl up` replays these hours (the hollow agents' `replay` energy source), so
that every simulated day differs as real grids do. The source files are
Electricity Maps' data-portal exports (ODbL) and market operators' day-ahead
prices, as redistributed by HewlettPackard/green-dcc (see README.md). Values are
rounded to whole g/kWh and whole USD/MWh, which is below the data's own
accuracy and keeps the extract small. Run by hand, never at run time:

    python -m controlplane.localfleet.data.regenerate_grid ../shared/data/grid
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
YEAR = 2023
HOURS = 8760
MISSING = -32768  # int16 sentinel: no price for this zone


def _hour(text: str) -> int:
    stamp = datetime.fromisoformat(text.strip()[:19]).replace(tzinfo=UTC)
    return int((stamp - datetime(YEAR, 1, 1, tzinfo=UTC)).total_seconds() // 3600)


def _column(path: Path, name: str) -> np.ndarray:
    """One column of an hourly CSV as 8,760 floats; gaps filled from the hour before."""
    values = np.full(HOURS, np.nan)
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            hour = _hour(row["Datetime (UTC)"])
            if 0 <= hour < HOURS and row[name].strip():
                values[hour] = float(row[name])
    for hour in range(HOURS):
        if np.isnan(values[hour]):
            values[hour] = values[hour - 1]
    if np.isnan(values).any():
        raise SystemExit(f"{path}: {name}: no value at the start of the year")
    return values


def main(grid: Path) -> None:
    zones = sorted(p.stem for p in (grid / "carbon_2023").glob("*.csv"))
    lca = np.zeros((len(zones), HOURS), np.uint16)
    direct = np.zeros((len(zones), HOURS), np.uint16)
    price = np.full((len(zones), HOURS), MISSING, np.int16)
    for i, zone in enumerate(zones):
        carbon = grid / "carbon_2023" / f"{zone}.csv"
        lca[i] = np.rint(_column(carbon, "Carbon Intensity gCO₂eq/kWh (LCA)"))
        direct[i] = np.rint(_column(carbon, "Carbon Intensity gCO₂eq/kWh (direct)"))
        prices = grid / "price_2023" / f"{zone}.csv"
        if prices.exists():
            usd = np.rint(_column(prices, "Price (USD/MWh)"))
            if (np.abs(usd) >= -MISSING).any():
                raise SystemExit(f"{prices}: a price beyond int16")
            price[i] = usd
    out = HERE / "grid_2023.npz"
    np.savez_compressed(
        out,
        zones=np.array(zones),
        start=np.array(f"{YEAR}-01-01T00:00:00+00:00"),
        carbon_lca_g_per_kwh=lca,
        carbon_direct_g_per_kwh=direct,
        price_usd_per_mwh=price,
    )
    print(f"{out}: {len(zones)} zones x {HOURS} h, {out.stat().st_size // 1024} kB")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

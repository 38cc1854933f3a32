"""Manifests for tests: nodes at a few real sites, and model deployments."""

from __future__ import annotations

# name: (country, lat, lon, renewable kW, carbon g/kWh)
SITES = {
    "fra": ("DE", 50.11, 8.68, 800, 350),  # Frankfurt, with solar surplus
    "ams": ("NL", 52.37, 4.90, 0, 720),  # Amsterdam, coal-heavy grid: about as near
    "par": ("FR", 48.85, 2.35, 100, 60),
    "nyc": ("US", 40.71, -74.0, 900, 30),  # clean, but far from Europe
}


def node_yaml(name: str, site: str, *, gpus: int = 8, budget_kw: float = 40) -> str:
    """A factory node at `site` with `gpus` H100s; its energy is the site's."""
    country, lat, lon, renewable, carbon = SITES[site]
    return f"""apiVersion: tokenplane.io/v1
kind: Node
metadata: {{name: {name}, labels: {{site: {site}}}}}
spec:
  tier: factory
  location: {{lat: {lat}, lon: {lon}, region: {site}, country: {country}}}
  capacity: {{gpus: [{{model: H100, memoryGb: 80, count: {gpus}}}]}}
  power: {{budgetKw: {budget_kw}}}
status:
  energy: {{renewableKw: {renewable}, carbonGPerKwh: {carbon}, pricePerKwh: 0.1}}
"""


def deployment_yaml(name: str, replicas: int, *, extra: str = "", gpus: int = 1) -> str:
    """A deployment whose users are in Düsseldorf; `extra` adds spec lines (indented 2)."""
    return f"""apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {{name: {name}}}
spec:
  model: {{name: llama-3.1-70b}}
  replicas: {replicas}
  resources: {{gpus: {gpus}, gpuModel: H100, powerKw: 1.0}}
  demand: [{{name: duesseldorf, lat: 51.23, lon: 6.78}}]
{extra}"""

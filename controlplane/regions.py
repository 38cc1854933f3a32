"""The server's region table: named places (landmarks) that RTTs are measured to.

A region is a name and a location, plus, optionally, a `probe` address
(host:port) that agents time TCP connects to. The shipped default is every
AWS, GCP and Azure region of the cloud-regions extract
(`controlplane/localfleet/data/cloud_regions.json`), named by the provider's
region code (`eu-central-1`, `westeurope`, `europe-west1`). A code that two
providers share would be ambiguous, so such regions are named
`provider:code`; every region also answers to its `provider:code` alias
(`aws:eu-central-1`), which is how measured data sets usually name them.

An operator file (`--regions FILE`, YAML or JSON) adds regions or overrides
the shipped ones field by field; it is a list of entries, or a mapping
`{defaults: false, regions: [...]}` to drop the shipped table:

    - {name: fra-ix, lat: 50.11, lon: 8.68, probe: probe.fra.example.net:443}
    - {name: eu-central-1, probe: 10.0.0.5:7}      # a probe for a shipped region

Errors name the file, the line and the field. docs/latency.md has the format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9:._-]{0,61}[A-Za-z0-9])?$"
_ZONE = re.compile(r"^(.*\d)-?[a-z]$")  # a region's code, then the zone's letter
_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")


class RegionsError(ValueError):
    """A regions file that cannot be used; one line per problem, each naming line and field."""


@dataclass(frozen=True, slots=True)
class Region:
    """A landmark: where it is, and where agents may probe it."""

    name: str
    lat: float  # degrees
    lon: float  # degrees
    probe: str | None = None  # host:port that agents time TCP connects to
    provider: str = ""  # aws | gcp | azure | "" (the operator's own)
    country: str = ""  # ISO 3166-1 alpha-2
    location: str = ""  # for people, e.g. "Europe (Frankfurt)"
    aliases: tuple[str, ...] = ()  # other names it answers to, e.g. "aws:eu-central-1"


def split_address(address: str) -> tuple[str, int]:
    """(host, port) of "host:port" or "[v6]:port"; ValueError naming what is wrong."""
    match = _ADDRESS.match(address)
    if match is None:
        raise ValueError(f"{address!r} is not host:port (IPv6 as [addr]:port)")
    port = int(match.group(2))
    if not 0 < port < 65536:
        raise ValueError(f"{address!r}: port {port} is not in 1-65535")
    return match.group(1).removeprefix("[").removesuffix("]"), port


def default_regions() -> dict[str, Region]:
    """The shipped table: every cloud region of the extract, by its (unambiguous) code."""
    from controlplane.localfleet.places import cloud_regions

    rows = cloud_regions().values()
    providers_of: dict[str, set[str]] = {}
    for r in rows:
        providers_of.setdefault(r.code, set()).add(r.provider)
    regions: dict[str, Region] = {}
    for r in rows:
        qualified = f"{r.provider}:{r.code}"
        shared = len(providers_of[r.code]) > 1
        name = qualified if shared else r.code
        aliases = () if shared else (qualified,)
        regions[name] = Region(name, r.lat, r.lon, None, r.provider, r.country, r.location, aliases)
    return regions


class RegionEntry(BaseModel):
    """One entry of an operator's regions file."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    probe: str | None = None
    country: str | None = Field(default=None, pattern=r"^([A-Z]{2})?$")
    location: str | None = None
    aliases: list[str] | None = None

    @field_validator("probe")
    @classmethod
    def _address(cls, probe: str | None) -> str | None:
        if probe:
            split_address(probe)
        return probe or None


class RegionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: bool = True
    regions: list[Any] = Field(default_factory=list)


def _lines(text: str) -> tuple[int | None, list[int | None], list[dict[str, int]]]:
    """Line of the list, of each entry and of each entry's keys, from YAML's node tree."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None, [], []
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "regions":
                root = value
                break
    if not isinstance(root, yaml.SequenceNode):
        return None, [], []
    entries: list[int | None] = []
    keys: list[dict[str, int]] = []
    for item in root.value:
        entries.append(item.start_mark.line + 1)
        keys.append(
            {k.value: k.start_mark.line + 1 for k, _ in item.value}
            if isinstance(item, yaml.MappingNode)
            else {}
        )
    return root.start_mark.line + 1, entries, keys


def _parse(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as yaml_error:
        try:  # JSON that PyYAML cannot read (e.g. indented with tabs)
            return json.loads(text)
        except json.JSONDecodeError:
            raise RegionsError(f"{source}: neither YAML nor JSON: {yaml_error}") from None


def parse_regions(
    text: str, source: str = "regions", base: Mapping[str, Region] | None = None
) -> dict[str, Region]:
    """`base` (default: the shipped table) with the file's entries added or merged in."""
    doc = _parse(text, source)
    _, entry_lines, key_lines = _lines(text)
    if doc is None:
        doc = []
    if isinstance(doc, list):
        doc = {"regions": doc}
    if not isinstance(doc, dict):
        raise RegionsError(
            f"{source}: expected a list of regions or {{regions: [...]}}, got {type(doc).__name__}"
        )
    try:
        top = RegionsFile.model_validate(doc)
    except ValidationError as e:
        raise RegionsError(
            "\n".join(f"{source}: {_loc(err['loc'])}: {err['msg']}" for err in e.errors())
        ) from None
    regions = dict(base if base is not None else default_regions()) if top.defaults else {}
    aliases = _alias_index(regions.values())
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(top.regions):
        line = entry_lines[i] if i < len(entry_lines) else None
        where = f"{source}:{line}" if line else source
        try:
            entry = RegionEntry.model_validate(raw)
        except ValidationError as e:
            for err in e.errors():
                field = str(err["loc"][0]) if err["loc"] else ""
                keys = key_lines[i] if i < len(key_lines) else {}
                at = f"{source}:{keys.get(field, line)}" if line else source
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(f"{at}: regions[{i}].{_loc(err['loc'])}: {msg}")
            continue
        name = aliases.get(entry.name, entry.name)
        if name in seen:
            problems.append(
                f"{where}: regions[{i}].name: {entry.name!r} is already given in entry "
                f"{seen[name] + 1}"
            )
            continue
        seen[name] = i
        current = regions.get(name)
        if current is None and (entry.lat is None or entry.lon is None):
            missing = "lat" if entry.lat is None else "lon"
            problems.append(
                f"{where}: regions[{i}].{missing}: required for a new region "
                f"({entry.name!r} is not a shipped region)"
            )
            continue
        regions[name] = _merged(current, name, entry)
    if problems:
        raise RegionsError("\n".join(problems))
    _check_aliases(regions.values(), source)
    return regions


def _merged(current: Region | None, name: str, entry: RegionEntry) -> Region:
    given = entry.model_dump(exclude_none=True, exclude={"name"})
    if "aliases" in given:
        given["aliases"] = tuple(given["aliases"])
    if current is None:
        return Region(name=name, **given)
    return replace(current, **given)


def _check_aliases(regions: Iterable[Region], source: str) -> None:
    owner: dict[str, str] = {}
    for r in regions:
        owner[r.name] = r.name
    for r in regions:
        for alias in r.aliases:
            if owner.setdefault(alias, r.name) != r.name:
                raise RegionsError(
                    f"{source}: alias {alias!r} of region {r.name!r} is already the name "
                    f"or alias of {owner[alias]!r}"
                )


def _loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _alias_index(regions: Iterable[Region]) -> dict[str, str]:
    index: dict[str, str] = {}
    for r in regions:
        for alias in r.aliases:
            index[alias] = r.name
    return index


def alias_index(regions: Mapping[str, Region]) -> dict[str, str]:
    """Every name and alias -> the region's name, to resolve names from other data sets."""
    index = _alias_index(regions.values())
    index.update({name: name for name in regions})
    return index


def resolve(name: str, index: Mapping[str, str]) -> str | None:
    """The region `name` means (by name or alias, from `alias_index`), or None.

    A zone resolves to its region, as measured data sets often name zones:
    `gcp:europe-west1-b` and `aws:us-east-1a` are in `europe-west1` and `us-east-1`.
    """
    found = index.get(name)
    if found is None and (zone := _ZONE.match(name)) is not None:
        found = index.get(zone.group(1))
    return found


def load_regions(path: Path | None) -> dict[str, Region]:
    """The shipped table, with the operator's file (if any) added and merged in."""
    if path is None:
        return default_regions()
    try:
        text = path.read_text()
    except OSError as e:
        raise RegionsError(f"{path}: {e.strerror}") from None
    return parse_regions(text, str(path))


def landmarks(regions: Mapping[str, Region]) -> dict[str, tuple[float, float]]:
    """name -> (lat, lon): what the scheduler's snapshot carries."""
    return {name: (r.lat, r.lon) for name, r in regions.items()}


def probe_targets(regions: Mapping[str, Region]) -> dict[str, str]:
    """name -> host:port of the regions that have a probe address: what agents are told."""
    return {name: r.probe for name, r in regions.items() if r.probe}

"""The region table: the shipped cloud regions, and an operator's file over them."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.regions import (
    RegionsError,
    alias_index,
    landmarks,
    load_regions,
    parse_regions,
    probe_targets,
)


def test_shipped_regions_are_named_by_their_codes_and_answer_to_provider_aliases() -> None:
    regions = load_regions(None)
    frankfurt = regions["eu-central-1"]
    assert (frankfurt.provider, frankfurt.country) == ("aws", "DE")
    assert frankfurt.lat == pytest.approx(50.11, abs=0.01)
    assert {"westeurope", "europe-west1"} <= regions.keys()
    aliases = alias_index(regions)
    assert aliases["aws:eu-central-1"] == "eu-central-1"
    assert aliases["gcp:europe-west1"] == "europe-west1"
    assert probe_targets(regions) == {}  # nothing to probe until the operator says where


def test_a_code_two_providers_share_is_named_by_provider() -> None:
    base = load_regions(None)
    clash = parse_regions("- {name: gcp:eu-central-1, lat: 50.1, lon: 8.7}", "r.yaml", base=base)
    assert clash["gcp:eu-central-1"].lat == 50.1
    assert clash["eu-central-1"].provider == "aws"


def test_operator_file_adds_regions_and_overrides_fields_of_shipped_ones(tmp_path: Path) -> None:
    path = tmp_path / "regions.yaml"
    path.write_text(
        "- name: fra-ix\n"
        "  lat: 50.11\n"
        "  lon: 8.68\n"
        "  probe: probe.fra.example.net:443\n"
        "- {name: aws:eu-central-1, probe: '[2001:db8::1]:7'}\n"
    )
    regions = load_regions(path)
    assert regions["fra-ix"].probe == "probe.fra.example.net:443"
    assert regions["eu-central-1"].probe == "[2001:db8::1]:7"
    assert regions["eu-central-1"].location == "Europe (Frankfurt)"  # kept from the shipped
    assert probe_targets(regions) == {
        "fra-ix": "probe.fra.example.net:443",
        "eu-central-1": "[2001:db8::1]:7",
    }
    assert landmarks(regions)["fra-ix"] == (50.11, 8.68)
    assert len(regions) == len(load_regions(None)) + 1


def test_json_file_without_the_shipped_defaults() -> None:
    regions = parse_regions(
        '{"defaults": false, "regions": [{"name": "lab", "lat": 1.5, "lon": 2, '
        '"probe": "127.0.0.1:9"}]}',
        "regions.json",
    )
    assert list(regions) == ["lab"]


def test_every_bad_entry_is_reported_with_its_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "regions.yaml"
    path.write_text(
        "- {name: ok, lat: 1, lon: 2}\n"
        "- name: far-north\n"
        "  lat: 95\n"
        "  lon: 3\n"
        "- {name: nowhere, lon: 3}\n"
        "- {name: x, lat: 1, lon: 2, probe: no-port}\n"
        "- {name: y, lat: 1, lon: 2, colour: red}\n"
        "- {name: ok, lat: 3, lon: 4}\n"
    )
    with pytest.raises(RegionsError) as e:
        load_regions(path)
    lines = str(e.value).splitlines()
    assert lines == [
        f"{path}:3: regions[1].lat: Input should be less than or equal to 90",
        f"{path}:5: regions[2].lat: required for a new region ('nowhere' is not a shipped region)",
        f"{path}:6: regions[3].probe: 'no-port' is not host:port (IPv6 as [addr]:port)",
        f"{path}:7: regions[4].colour: Extra inputs are not permitted",
        f"{path}:8: regions[5].name: 'ok' is already given in entry 1",
    ]


def test_unreadable_and_malformed_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(RegionsError, match=r"missing\.yaml: No such file"):
        load_regions(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: lab\n")
    with pytest.raises(RegionsError, match=r"bad\.yaml: name: Extra inputs"):
        load_regions(bad)

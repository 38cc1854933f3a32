"""Measured RTTs in the live table: agents' samples over the operator's matrix, in the snapshot."""

from __future__ import annotations

from pathlib import Path

from controlplane.inventory import InventoryTable
from controlplane.inventory.rtt import MAX_OTHER_TARGETS
from controlplane.regions import Region, alias_index, load_regions, parse_regions
from controlplane.resources import load_manifests
from controlplane.rttmatrix import parse_matrix
from tests.support.processes import write_fleet
from tokenplane.v1 import agent_pb2

LAB = "- {name: lab, lat: 48.1, lon: 11.6, probe: '127.0.0.1:9'}\n"


def _table(tmp_path: Path, regions: dict[str, Region], n: int = 3) -> InventoryTable:
    table = InventoryTable(interval_s=1.0, capacity=2)
    table.set_regions(regions, probe_interval_s=15)
    for node in load_manifests(write_fleet(tmp_path / "f.yaml", n).read_text()):
        table.upsert(node)  # type: ignore[arg-type]
    return table


def _samples(table: InventoryTable, node: str, *pairs: tuple[str, float]) -> None:
    slot = table.slot(node)
    beat = agent_pb2.Heartbeat(
        rtt_samples=[
            agent_pb2.RttSample(target=t, rtt_ms=ms, method="tcp-connect") for t, ms in pairs
        ]
    )
    table.heartbeat(slot, beat, 1.0)


def test_snapshot_has_every_landmark_and_nothing_measured_before_any_sample(
    tmp_path: Path,
) -> None:
    table = _table(tmp_path, parse_regions(LAB))
    snap = table.snapshot()
    assert snap.measured_rtt_ms == {}
    assert snap.landmarks["lab"] == (48.1, 11.6)
    assert snap.landmarks["eu-central-1"] == (50.1109, 8.6821)
    assert len(snap.landmarks) == len(load_regions(None)) + 1


def test_the_least_of_the_last_five_samples_is_kept(tmp_path: Path) -> None:
    table = _table(tmp_path, parse_regions(LAB))
    _samples(table, "node-1", ("lab", 9.0), ("lab", 4.0), ("lab", 30.0))
    assert table.snapshot().measured_rtt_ms == {1: {"lab": 4.0}}
    _samples(table, "node-1", ("lab", 8.0), ("lab", 7.0), ("lab", 6.0), ("lab", 11.0))
    assert table.snapshot().measured_rtt_ms == {1: {"lab": 6.0}}


def test_samples_named_by_alias_count_for_the_region_and_unknown_targets_stay_out(
    tmp_path: Path,
) -> None:
    table = _table(tmp_path, parse_regions(LAB))
    _samples(table, "node-0", ("aws:eu-central-1", 12.0), ("not-a-landmark", 3.0), ("x", -1))
    assert table.snapshot().measured_rtt_ms == {0: {"eu-central-1": 12.0}}
    rtts = {(r.target, r.rtt_ms, r.method) for r in table.node_rtts("node-0")}
    assert rtts == {("eu-central-1", 12.0, "tcp-connect"), ("not-a-landmark", 3.0, "tcp-connect")}


def test_region_rows_then_node_rows_then_agent_samples_win(tmp_path: Path) -> None:
    regions = parse_regions(LAB)
    table = _table(tmp_path, regions)
    matrix = parse_matrix(
        "source,target,rtt_ms\neu-west,lab,40\neu-west,us-east-1,90\nnode-2,lab,25\n",
        "m.csv",
        alias_index(regions),
    )
    table.set_rtt_matrix(matrix)
    _samples(table, "node-2", ("lab", 5.0))
    measured = table.snapshot().measured_rtt_ms
    assert measured[0] == {"lab": 40.0, "us-east-1": 90.0}  # the region's rows
    assert measured[2] == {"lab": 5.0, "us-east-1": 90.0}  # its agent's sample over both
    methods = {r.target: r.method for r in table.node_rtts("node-2")}
    assert methods == {"lab": "tcp-connect", "us-east-1": "matrix"}


def test_a_snapshot_does_not_change_when_later_samples_arrive(tmp_path: Path) -> None:
    table = _table(tmp_path, parse_regions(LAB))
    _samples(table, "node-0", ("lab", 9.0))
    before = table.snapshot()
    _samples(table, "node-0", ("lab", 2.0))
    assert before.measured_rtt_ms == {0: {"lab": 9.0}}
    assert table.snapshot().measured_rtt_ms == {0: {"lab": 2.0}}
    assert table.snapshot().revision > before.revision


def test_probe_settings_name_the_regions_with_a_probe_address(tmp_path: Path) -> None:
    table = _table(tmp_path, parse_regions(LAB + "- {name: eu-central-1, probe: 'fra:7'}\n"))
    settings = table.rtt.probe_settings
    assert [(t.name, t.address) for t in settings.targets] == [
        ("eu-central-1", "fra:7"),
        ("lab", "127.0.0.1:9"),
    ]
    assert settings.interval_ms == 15_000


def test_an_agent_cannot_grow_the_table_with_made_up_targets(tmp_path: Path) -> None:
    table = _table(tmp_path, parse_regions(LAB))
    _samples(table, "node-0", *((f"mine-{i}", 1.0) for i in range(100)), ("lab", 2.0))
    rtts = table.node_rtts("node-0")
    assert len(rtts) == MAX_OTHER_TARGETS + 1
    assert table.snapshot().measured_rtt_ms == {0: {"lab": 2.0}}

"""The operator's RTT matrix: CSV and JSON, every bad row named by its line, kept fresh."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from controlplane.regions import alias_index, parse_regions
from controlplane.rttmatrix import MatrixError, MatrixFeed, RttMatrix, load_matrix, parse_matrix

LANDMARKS = alias_index(parse_regions("- {name: lab, lat: 1, lon: 2}\n"))
SKYPLANE = Path(__file__).resolve().parents[3] / "shared/data/latency/cloud_region_rtt_2022.csv"


def test_csv_rows_by_node_and_by_region_with_columns_in_any_order() -> None:
    matrix = parse_matrix(
        "# measured 2026-11\n"
        "target,rtt_ms,source,note\n"
        "eu-central-1,11.5,factory-paris,ping\n"
        "\n"
        "aws:us-east-1,82,europe,\n"
        "lab,0.4,europe,\n",
        "m.csv",
        LANDMARKS,
    )
    assert matrix.by_source == {
        "factory-paris": {"eu-central-1": 11.5},
        "europe": {"us-east-1": 82.0, "lab": 0.4},
    }
    assert len(matrix) == 3


def test_json_list_and_mapping() -> None:
    listed = parse_matrix(
        '[{"source": "edge-1", "target": "westeurope", "rttMs": 7},\n'
        ' {"source": "edge-1", "target": "lab", "rtt_ms": 3.5}]',
        "m.json",
        LANDMARKS,
    )
    mapped = parse_matrix('{"edge-1": {"westeurope": 7, "lab": 3.5}}', "m.json", LANDMARKS)
    assert listed.by_source == mapped.by_source == {"edge-1": {"westeurope": 7.0, "lab": 3.5}}


def test_every_bad_csv_row_is_named_by_its_line() -> None:
    with pytest.raises(MatrixError) as e:
        parse_matrix(
            "source,target,rtt_ms\na,lab,1\nb,atlantis,2\nc,lab,fast\nd,lab,-3\n,lab,4\ne,lab\n",
            "m.csv",
            LANDMARKS,
        )
    assert str(e.value).splitlines() == [
        "m.csv:3: target: 'atlantis' is not a known landmark "
        "(a region of the server's table; add it with --regions)",
        "m.csv:4: rtt_ms: 'fast' is not a number",
        "m.csv:5: rtt_ms: '-3' is not within 0-60000 ms",
        "m.csv:6: source: required (a node or region name)",
        "m.csv:7: expected 3 columns, got 2",
    ]


def test_a_pair_measured_more_than_once_keeps_its_least_rtt() -> None:
    matrix = parse_matrix(
        "source,target,rtt_ms\nedge-1,gcp:europe-west1-b,9\nedge-1,europe-west1,7.5\n"
        "edge-1,gcp:europe-west1-c,8\n",
        "m.csv",
        alias_index(parse_regions("")),
    )
    assert matrix.by_source == {"edge-1": {"europe-west1": 7.5}}


def test_a_header_without_the_columns_is_refused() -> None:
    with pytest.raises(MatrixError, match=r"m\.csv:1: header: no column rtt_ms"):
        parse_matrix("source,target,latency\na,lab,1\n", "m.csv", LANDMARKS)


def test_bad_json_items_are_named_by_line_and_index() -> None:
    with pytest.raises(MatrixError) as e:
        parse_matrix(
            '[\n {"source": "a", "target": "lab", "rttMs": 1},\n'
            ' {"source": "b", "target": "lab", "rtt": 2},\n'
            ' {"source": "c", "target": "lab", "rttMs": "x"}\n]',
            "m.json",
            LANDMARKS,
        )
    assert str(e.value).splitlines() == [
        "m.json:3: [1]: unknown field 'rtt'",
        "m.json:4: [2]: rtt_ms: 'x' is not a number",
    ]
    with pytest.raises(MatrixError, match=r"m\.json:1: invalid JSON"):
        parse_matrix("[{", "m.json", LANDMARKS)


def test_the_shared_cloud_region_measurements_load_once_converted() -> None:
    """Skyplane's 2022 profile names zones (`gcp:europe-west1-b`) and three GCP regions the
    shipped table lacks: the operator adds those, and every row then resolves."""
    if not SKYPLANE.exists():
        pytest.skip(f"{SKYPLANE} is not here (shared data)")
    lines = SKYPLANE.read_text().splitlines()
    rows = ["source,target,rtt_ms"] + [
        f"{cols[0]},{cols[3]},{cols[6]}" for cols in (line.split(",") for line in lines[1:])
    ]
    with pytest.raises(MatrixError, match=r"'gcp:europe-central2-a' is not a known landmark"):
        parse_matrix("\n".join(rows), "skyplane.csv", alias_index(parse_regions("")))
    regions = parse_regions(
        "- {name: europe-central2, lat: 52.23, lon: 21.01, aliases: [gcp:europe-central2]}\n"
        "- {name: northamerica-northeast1, lat: 45.50, lon: -73.57,"
        " aliases: [gcp:northamerica-northeast1]}\n"
        "- {name: northamerica-northeast2, lat: 43.65, lon: -79.38,"
        " aliases: [gcp:northamerica-northeast2]}\n"
    )
    matrix = parse_matrix("\n".join(rows), "skyplane.csv", alias_index(regions))
    assert matrix.by_source["eu-north-1"]["eastus"] == pytest.approx(105.897)
    assert matrix.by_source["eu-north-1"]["eastus"] < matrix.by_source["eu-north-1"]["westus"]
    assert 60 <= len(matrix.by_source) <= 69  # 69 regions measured; zones fold into regions


class _Served:
    """A real HTTP server on loopback whose answer the test sets."""

    def __init__(self) -> None:
        self.status, self.body = 200, b""
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(served.status)
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/rtt.csv"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served() -> Iterator[_Served]:
    s = _Served()
    yield s
    s.close()


def test_a_url_is_refetched_and_a_failed_fetch_keeps_the_last_good_matrix(
    served: _Served, caplog: pytest.LogCaptureFixture
) -> None:
    applied: list[RttMatrix] = []
    feed = MatrixFeed(served.url, LANDMARKS, applied.append, refresh_s=60)
    served.body = b"source,target,rtt_ms\nedge-1,lab,5\n"
    assert asyncio.run(feed.refresh())
    served.status, served.body = 500, b"oops"
    with caplog.at_level(logging.WARNING):
        assert not asyncio.run(feed.refresh())
    assert "cannot read: HTTP 500" in caplog.text and "keeping the last good matrix" in caplog.text
    served.status, served.body = 200, b"source,target,rtt_ms\nedge-1,lab,oops\n"
    assert not asyncio.run(feed.refresh())
    assert feed.last_error is not None and "rtt_ms: 'oops' is not a number" in feed.last_error
    served.body = b"source,target,rtt_ms\nedge-1,lab,6\n"
    assert asyncio.run(feed.refresh())
    assert [m.by_source for m in applied] == [{"edge-1": {"lab": 5.0}}, {"edge-1": {"lab": 6.0}}]


def test_a_file_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "rtt.csv"
    path.write_text("source,target,rtt_ms\nedge-1,lab,5\n")
    applied: list[RttMatrix] = []
    feed = MatrixFeed(str(path), LANDMARKS, applied.append)
    assert asyncio.run(feed.refresh())
    assert not asyncio.run(feed.refresh())  # unchanged
    path.write_text("source,target,rtt_ms\nedge-1,lab,7\n")
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1_000_000))
    assert asyncio.run(feed.refresh())
    assert applied[-1].by_source == {"edge-1": {"lab": 7.0}}


def test_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(MatrixError, match=r"missing\.csv: cannot read: No such file"):
        load_matrix(str(tmp_path / "missing.csv"), LANDMARKS)

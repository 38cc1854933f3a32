"""The pure parts of answering bad input: field checks, pages, the garbage log, the bearer."""

from __future__ import annotations

import logging

import pytest

from controlplane.api.auth import bearer
from controlplane.api.checks import check_size, largest_field, revision_of
from controlplane.api.decoding import RateLimitedLog
from controlplane.api.paging import Continue, page, parse_continue
from controlplane.errors import Exhausted, Invalid, Unauthenticated
from tokenplane.v1 import fleet_pb2, resources_pb2


@pytest.mark.parametrize("text", ["abc", "-1", "", "1.5", "٣", str(2**63), "0x10"])
def test_a_resource_version_is_a_decimal_int64(text: str) -> None:
    with pytest.raises(Invalid, match=r"^resourceVersion: "):
        revision_of(text)


def test_a_resource_version_error_quotes_little_of_the_input() -> None:
    with pytest.raises(Invalid) as caught:
        revision_of("9" * 70_000)
    assert len(str(caught.value)) < 400


def test_the_largest_field_is_the_list_as_a_whole_unless_one_item_dominates() -> None:
    deployment = resources_pb2.ModelDeployment()
    deployment.metadata.name = "big"
    for i in range(2000):
        deployment.spec.demand.add(region=f"region-{i:05}")
    assert largest_field(deployment) == "spec.demand"
    deployment.spec.demand[7].region = "r" * 500_000
    assert largest_field(deployment) == "spec.demand[7].region"


def test_an_object_over_1_mib_is_refused_naming_it() -> None:
    deployment = resources_pb2.ModelDeployment()
    deployment.metadata.name = "big"
    deployment.metadata.annotations["blob"] = "x" * (1024 * 1024)
    with pytest.raises(Exhausted, match=r'ModelDeployment "big".*metadata\.annotations'):
        check_size(deployment, "ModelDeployment", "big")
    deployment.metadata.annotations["blob"] = "x" * 1000
    check_size(deployment, "ModelDeployment", "big")


def rows(n: int, size: int) -> list[fleet_pb2.TableRow]:
    return [fleet_pb2.TableRow(name=f"r{i}", cells=["x" * size]) for i in range(n)]


def test_a_page_ends_at_the_limit_or_the_byte_budget_whichever_first() -> None:
    assert len(page(rows(10, 10), lambda r: r, limit=4)) == 4
    assert len(page(rows(10, 10), lambda r: r, limit=0)) == 10
    assert len(page(rows(10, 1000), lambda r: r, limit=0, max_bytes=3500)) == 3
    # One item over the budget is still sent alone: a list always moves on.
    assert len(page(rows(3, 5000), lambda r: r, limit=0, max_bytes=1000)) == 1


def test_a_continue_token_round_trips_and_is_bound_to_its_kind() -> None:
    token = Continue("Node", "edge-7", 42).token()
    assert parse_continue(token, "Node") == Continue("Node", "edge-7", 42)
    assert parse_continue("", "Node") is None
    with pytest.raises(Invalid, match="continue: the token continues a List of Node"):
        parse_continue(token, "Replica")
    for garbage in ("%%%", "bm90IGpzb24=", "e30=", "W10="):  # not base64, not JSON, {}, []
        with pytest.raises(Invalid, match=r"^continue: "):
            parse_continue(garbage, "Node")


def test_undecodable_requests_are_logged_once_per_interval_per_method_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    journal = RateLimitedLog(interval_s=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        logged = [journal.note("Get", "bad") for _ in range(5)]
        now[0] = 10.5
        logged.append(journal.note("Get", "bad"))
        logged.append(journal.note("List", "bad"))
    assert logged == [True, False, False, False, False, True, True]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[1].startswith("refused 5 undecodable Get request(s)")
    assert journal.refused == 7


def test_a_non_ascii_bearer_token_is_unauthenticated_not_a_type_error() -> None:
    with pytest.raises(Unauthenticated, match="not ASCII"):
        bearer([("authorization", "Bearer tökén")])
    assert bearer([("authorization", "Bearer abc")]) == "abc"

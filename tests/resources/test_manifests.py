"""Manifests: YAML in, validated models, protobuf round trips, errors that name the field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.resources import (
    ManifestError,
    ModelDeployment,
    Node,
    dump_yaml,
    load_manifests,
)
from controlplane.resources.codec import from_resource, to_resource
from controlplane.resources.selector import parse_selector

NODE = """
apiVersion: tokenplane.io/v1
kind: Node
metadata: {name: fra-factory-1, labels: {site: fra}}
spec:
  tier: factory
  location: {lat: 50.11, lon: 8.68, region: eu-central, country: DE, city: Frankfurt}
  capacity:
    gpus: [{model: H100, memoryGb: 80, count: 256}]
  power: {budgetKw: 3000, pue: 1.2}
  taints: [{key: dedicated, value: batch, effect: NoSchedule}]
"""

DEPLOYMENT = """
apiVersion: tokenplane.io/v1
kind: ModelDeployment
metadata: {name: llama-eu}
spec:
  model: {name: llama-3.1-8b, runtime: vllm}
  replicas: 0
  resources: {gpus: 1, gpuModel: L4, powerKw: 0.4}
  demand:
    - {name: paris, lat: 48.85, lon: 2.35, weight: 2}
    - {region: eu-west}
  latencySloMs: 40
  placement: {countries: [FR, DE], privacy: edge-only}
"""


def test_multi_document_yaml_gives_typed_resources() -> None:
    node, deployment = load_manifests(NODE + "---" + DEPLOYMENT, "fleet.yaml")
    assert isinstance(node, Node) and isinstance(deployment, ModelDeployment)
    assert node.spec.power.budget_kw == 3000
    assert node.spec.capacity.gpus[0].memory_gb == 80
    assert deployment.spec.replicas == 0
    assert deployment.spec.placement.privacy == "edge-only"


def test_every_bad_field_is_named_with_file_and_document() -> None:
    bad = NODE.replace("tier: factory", "tier: moon").replace("budgetKw: 3000", "budgetKw: -5")
    with pytest.raises(ManifestError) as err:
        load_manifests(DEPLOYMENT + "---" + bad, "site.yaml")
    text = str(err.value)
    assert "site.yaml (document 2): spec.tier" in text
    assert "site.yaml (document 2): spec.power.budgetKw: Input should be greater than 0" in text
    assert "document 1" not in text


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        (("kind: ModelDeployment", "kind: Deployment"), "kind: unknown kind 'Deployment'"),
        (("apiVersion: tokenplane.io/v1", "apiVersion: v1"), "apiVersion: must be"),
        (("name: llama-eu", "name: Llama_EU"), "metadata.name"),
        (("replicas: 0", "replicas: many"), "spec.replicas"),
        (("latencySloMs: 40", "latencySlo: 40"), "spec.latencySlo: Extra inputs are not permitted"),
        (("{region: eu-west}", "{weight: 1}"), "spec.demand[1]: Value error, give a point"),
    ],
)
def test_bad_deployment_fields(patch: tuple[str, str], where: str) -> None:
    with pytest.raises(ManifestError, match=None) as err:
        load_manifests(DEPLOYMENT.replace(*patch), "d.yaml")
    assert where in str(err.value)


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(ManifestError, match=r"bad.yaml: invalid YAML: line 3"):
        load_manifests("apiVersion: x\nkind: Node\nmetadata: {name: [}\n", "bad.yaml")


def test_proto_and_yaml_round_trips_are_lossless() -> None:
    for resource in load_manifests(NODE + "---" + DEPLOYMENT):
        assert from_resource(to_resource(resource)) == resource
        assert load_manifests(dump_yaml(resource))[0] == resource


@settings(max_examples=50, deadline=None)
@given(
    replicas=st.integers(0, 10_000),
    slo=st.none() | st.floats(0.5, 1e4),
    weight=st.floats(0.01, 100),
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
)
def test_deployment_round_trip_keeps_zeroes_and_absences(
    replicas: int, slo: float | None, weight: float, lat: float, lon: float
) -> None:
    (deployment,) = load_manifests(DEPLOYMENT)
    assert isinstance(deployment, ModelDeployment)
    spec = deployment.spec
    spec.replicas, spec.latency_slo_ms = replicas, slo
    spec.demand[0].weight, spec.demand[0].lat, spec.demand[0].lon = weight, lat, lon
    assert from_resource(to_resource(deployment)) == deployment


def test_label_selectors() -> None:
    labels = {"site": "fra", "tier": "factory"}
    assert parse_selector("site=fra,tier!=edge")(labels)
    assert parse_selector("site in (fra, ams), tier")(labels)
    assert not parse_selector("!tier")(labels)
    assert not parse_selector("site notin (fra)")(labels)
    with pytest.raises(ValueError, match="cannot parse 'site=>fra'"):
        parse_selector("site=>fra")


CURTAILMENT = """
apiVersion: tokenplane.io/v1
kind: Curtailment
metadata: {name: fra-dr-1}
spec: {nodeName: fra-factory-1, budgetKw: 1800, durationSeconds: 14400, reason: grid event}
"""


def test_a_curtailment_round_trips_through_its_proto_with_its_status() -> None:
    (curtailment,) = load_manifests(CURTAILMENT, "curtail.yaml")
    curtailment.status.phase = "Active"
    curtailment.status.time_to_shed_seconds = 0.0  # optional: zero survives
    back = from_resource(to_resource(curtailment))
    assert back == curtailment
    assert back.status.time_to_shed_seconds == 0.0


def test_a_curtailment_without_a_duration_is_refused_naming_the_field() -> None:
    bad = CURTAILMENT.replace("durationSeconds: 14400", "durationSeconds: 0")
    with pytest.raises(ManifestError, match=r"curtail.yaml \(document 1\): spec.durationSeconds"):
        load_manifests(bad, "curtail.yaml")

"""The node config file: the documented examples load, and every error names its field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agents.config import (
    ConfigError,
    FileEnergy,
    KubernetesRuntimeConfig,
    ModelledEnergy,
    ProcessRuntimeConfig,
    load_config,
    parse_config,
)
from agents.state import LocalState, ReplicaRecord, StateError
from tests.agents.support import full_example, replica, yaml_blocks


def test_the_documented_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(full_example()))
    config = load_config(path)
    assert isinstance(config.agent.energy, ModelledEnergy)
    assert isinstance(config.agent.runtime, ProcessRuntimeConfig)
    node = config.node()
    assert node.name == "munich-edge-1" and node.spec.power.pue == 1.3


@pytest.mark.parametrize(
    "block", [b for b in yaml_blocks() if b.startswith(("energy:", "runtime:"))]
)
def test_every_documented_agent_section_loads(block: str) -> None:
    doc = full_example()
    doc["agent"].update(yaml.safe_load(block))  # type: ignore[attr-defined]
    config = parse_config(doc)
    assert config.agent.runtime.driver in ("process", "kubernetes")


def with_agent(**agent: object) -> dict[str, object]:
    doc = full_example()
    doc["agent"] = {**doc["agent"], **agent}  # type: ignore[dict-item]
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"energy": {"source": "file"}}, "node.yaml: agent.energy.path: Field required"),
        ({"energy": {"source": "wind"}}, "node.yaml: agent.energy: Input tag 'wind'"),
        (
            {"energy": {"source": "modelled", "solar": {"capacityKwp": -5}}},
            "node.yaml: agent.energy.solar.capacityKwp: Input should be greater than 0",
        ),
        (
            {"energy": {"source": "http", "url": "ftp://x"}},
            "node.yaml: agent.energy.url: String should match pattern",
        ),
        (
            {"runtime": {"driver": "process", "templates": {"vllm": {"command": "serve {mdl}"}}}},
            "node.yaml: agent.runtime.templates.vllm.command: '{mdl}': unknown field {mdl}",
        ),
        (
            {"runtime": {"driver": "process", "templates": {}}},
            "node.yaml: agent.runtime.templates: Dictionary should have at least 1 item",
        ),
        (
            {"runtime": {"driver": "kubernetes", "templates": {"vllm": {"image": "x", "port": 0}}}},
            "node.yaml: agent.runtime.templates.vllm.port: Input should be greater than 0",
        ),
        ({"runtime": {"driver": "docker"}}, "node.yaml: agent.runtime: Input tag 'docker'"),
        ({"energy": {"source": "static", "sun": 1}}, "agent.energy.sun: Extra inputs"),
    ],
)
def test_errors_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(with_agent(**change))
    assert message in str(err.value)


def test_errors_in_the_node_manifest_name_the_field_too(tmp_path: Path) -> None:
    doc = full_example()
    doc["spec"]["power"]["budgetKw"] = 0  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"spec\.power\.budgetKw: Input should be greater"):
        parse_config(doc)
    path = tmp_path / "node.yaml"
    path.write_text("kind: [")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "missing.yaml")


def test_kubernetes_and_file_sections_have_their_defaults() -> None:
    config = parse_config(
        with_agent(
            energy={"source": "file", "path": "/run/e.json"},
            runtime={"driver": "kubernetes", "templates": {"vllm": {"image": "vllm:1"}}},
        )
    )
    assert isinstance(config.agent.energy, FileEnergy)
    assert config.agent.energy.max_age_seconds == 300
    assert isinstance(config.agent.runtime, KubernetesRuntimeConfig)
    assert config.agent.runtime.namespace == "tokenplane"


def test_local_state_round_trips_and_a_bad_file_stops_the_agent(tmp_path: Path) -> None:
    path = tmp_path / "agent-state.json"
    state = LocalState.load(path)
    assert state.applied_generation == 0 and not state.replicas
    state.replicas["r1"] = ReplicaRecord(
        replica=replica("r1"), generation=4, pid=123, create_time=1.5, port=8000, gpus=[0, 2]
    )
    state.set_applied_generation(9)
    again = LocalState.load(path)
    assert again.applied_generation == 9
    assert again.replicas["r1"] == state.replicas["r1"]
    assert not path.with_suffix(".tmp").exists()

    path.write_text('{"version": 1, "applied_generation": ')
    with pytest.raises(StateError, match="cannot read the agent's state"):
        LocalState.load(path)
    path.write_text('{"version": 99}')
    with pytest.raises(StateError, match="version 99"):
        LocalState.load(path)

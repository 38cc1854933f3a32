"""RTT probes: real TCP connects to loopback listeners, targets from the server and the config."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Iterator

import pytest
import yaml

from agents.config import ConfigError, parse_config
from agents.hollow import load_fleet
from agents.probes import SAMPLES_BUFFERED, Prober, SimulatedRtts, Target, with_rtt_samples
from controlplane.resources import ManifestError
from tests.agents.support import full_example, yaml_blocks
from tokenplane.v1 import agent_pb2


class Listener:
    """A real TCP listener on loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.accepted = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted += 1
            writer.close()

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on: connects to it are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_a_round_times_a_tcp_handshake_to_each_target(closed_port: int) -> None:
    async def run() -> tuple[list[agent_pb2.RttSample], list[agent_pb2.RttSample], int]:
        async with Listener() as lab:
            prober = Prober([Target("lab", "localhost", lab.port)])
            prober.configure(
                agent_pb2.ProbeSettings(
                    targets=[agent_pb2.ProbeTarget(name="gone", address=f"127.0.0.1:{closed_port}")]
                )
            )
            samples = await prober.round()
            await asyncio.sleep(0)  # let the listener's accept callback run
            return samples, prober.drain(), lab.accepted

    samples, drained, accepted = asyncio.run(run())
    assert [(s.target, s.method) for s in samples] == [("lab", "tcp-connect")]  # refused: none
    assert 0 < samples[0].rtt_ms < 1000
    assert drained == samples and accepted == 1


def test_server_targets_replace_each_other_and_the_configs_win_by_name() -> None:
    prober = Prober([Target("lab", "10.0.0.1", 7)])
    prober.on_settings(
        agent_pb2.Settings(
            probes=agent_pb2.ProbeSettings(
                targets=[
                    agent_pb2.ProbeTarget(name="lab", address="192.0.2.1:7"),
                    agent_pb2.ProbeTarget(name="fra", address="fra.example.net:443"),
                    agent_pb2.ProbeTarget(name="bad", address="no-port"),
                ],
                interval_ms=5000,
            )
        )
    )
    assert prober.targets == {
        "lab": Target("lab", "10.0.0.1", 7),
        "fra": Target("fra", "fra.example.net", 443),
    }
    assert prober.interval_s == 5.0
    prober.on_settings(agent_pb2.Settings(heartbeat_interval_ms=2500))  # about something else
    assert set(prober.targets) == {"lab", "fra"}
    prober.on_settings(agent_pb2.Settings(probes=agent_pb2.ProbeSettings()))  # none any more
    assert set(prober.targets) == {"lab"} and prober.interval_s == 5.0


def test_samples_wait_for_the_next_heartbeat_the_last_few_per_target(closed_port: int) -> None:
    async def run() -> agent_pb2.Heartbeat:
        async with Listener() as lab:
            prober = Prober([Target("lab", "127.0.0.1", lab.port)])
            for _ in range(SAMPLES_BUFFERED + 2):
                await prober.round()
            beat = with_rtt_samples(lambda runtime: agent_pb2.Heartbeat(it_draw_kw=3), prober)
            first = beat(None)  # type: ignore[arg-type]
            assert not beat(None).rtt_samples  # type: ignore[arg-type]  # sent once only
            return first

    first = asyncio.run(run())
    assert first.it_draw_kw == 3 and len(first.rtt_samples) == SAMPLES_BUFFERED


def test_a_hollow_nodes_declared_rtts_come_once_per_interval_named_simulated() -> None:
    now = [100.0]
    rtts = SimulatedRtts(
        {"eu-central-1": 12.5}, interval_s=20, rng=random.Random(1), clock=lambda: now[0]
    )
    assert [(s.target, s.rtt_ms, s.method) for s in rtts.drain()] == [
        ("eu-central-1", 12.5, "simulated")
    ]
    assert rtts.drain() == []
    now[0] += 23  # past the interval and its 10% jitter
    assert len(rtts.drain()) == 1


def test_the_documented_probes_section_loads_and_bad_fields_are_named() -> None:
    (block,) = [b for b in yaml_blocks() if b.startswith("probes:")]
    doc = full_example()
    doc["agent"].update(yaml.safe_load(block))  # type: ignore[attr-defined]
    probes = parse_config(doc).agent.probes
    assert probes.targets and probes.targets[0].address
    doc["agent"]["probes"] = {  # type: ignore[index]
        "targets": [{"name": "lab", "address": "lab.example.net"}],
        "intervalSeconds": 0.1,
    }
    with pytest.raises(ConfigError) as e:
        parse_config(doc)
    assert "agent.probes.targets[0].address: 'lab.example.net' is not host:port" in str(e.value)
    assert "agent.probes.intervalSeconds: Input should be greater than or equal to 1" in str(
        e.value
    )


HOLLOW_DOC = """apiVersion: tokenplane.io/v1
kind: Node
metadata: {name: hollow-1}
spec:
  tier: edge
  location: {lat: 48.85, lon: 2.35, region: europe, country: FR}
  capacity: {gpus: [{model: L4, memoryGb: 24, count: 2}]}
  power: {budgetKw: 10}
agent:
  simulatedRttMs: {westeurope: RTT, lab: 4}
"""


def test_a_fleet_files_simulated_rtts_load_and_bad_ones_are_named() -> None:
    (node,) = load_fleet(HOLLOW_DOC.replace("RTT", "9.5"), "fleet.yaml")
    assert node.simulated_rtt_ms == {"westeurope": 9.5, "lab": 4.0}
    assert node.energy is None  # the manifest's figures, as without an agent section
    with pytest.raises(ManifestError) as e:
        load_fleet(HOLLOW_DOC.replace("RTT", "-1"), "fleet.yaml")
    assert str(e.value) == (
        "fleet.yaml (document 1): agent.simulatedRttMs.westeurope: "
        "Input should be greater than or equal to 0"
    )

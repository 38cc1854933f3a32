"""A real `tokenplane-agent` process running real replica processes, end to end.

The control plane here is a test double (tests/agents/control_plane_double.py)
that speaks the real AgentService protocol and is driven by hand, so that an
outage has an exact length and every command an exact generation. The replicas
are the fixture model server (tests/agents/model_server.py).

The outage lasts TOKENPLANE_TEST_OUTAGE_SECONDS (default 30, as the issue asks);
set it lower for a quick local run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.control_plane_double import TOKEN, ControlPlaneDouble
from tests.agents.support import (
    STATIC_ENERGY,
    AgentProcess,
    fixture_pids,
    kill_recorded_replicas,
    node_yaml,
    replica,
    served_pid,
    wait_until,
)

OUTAGE_S = float(os.environ.get("TOKENPLANE_TEST_OUTAGE_SECONDS", "30"))


@pytest.fixture
def double() -> Iterator[ControlPlaneDouble]:
    cp = ControlPlaneDouble()
    cp.start()
    yield cp
    cp.close()


def running(cp: ControlPlaneDouble, *names: str) -> bool:
    latest = cp.seen.latest()
    return all(n in latest and latest[n].phase == "Running" for n in names)


def test_agent_runs_replicas_and_survives_an_outage_and_its_own_crash(
    double: ControlPlaneDouble, tmp_path: Path
) -> None:
    config = tmp_path / "edge-1.yaml"
    config.write_text(node_yaml("edge-1", energy=STATIC_ENERGY))
    state_dir = tmp_path / "agent"
    agent = AgentProcess(config, double.address, TOKEN, state_dir)
    try:
        # Join, Hello, heartbeats at the server's interval.
        wait_until(lambda: double.connected, 15, "agent connected")
        (hello,) = double.seen.hellos
        assert hello.node_name == "edge-1" and not hello.replicas
        assert hello.applied_generation == 0
        wait_until(lambda: len(double.seen.heartbeats) >= 3, 5, "heartbeats")
        beat = double.seen.heartbeats[-1]
        assert beat.carbon_g_per_kwh == 210 and beat.budget_kw == 20
        assert "carbon=declared" in beat.energy_source
        assert double.seen.joins[0].spec.capacity.cpu_cores > 0  # measured by psutil

        # Deploy: health-checked until Running, with an endpoint that serves.
        double.deploy(replica("e2e-a"))
        double.deploy(replica("e2e-b"))
        wait_until(lambda: running(double, "e2e-a", "e2e-b"), 15, "both Running")
        endpoints = {n: double.seen.latest()[n].endpoint for n in ("e2e-a", "e2e-b")}
        pids = {n: served_pid(e) for n, e in endpoints.items()}
        assert [s.phase for s in double.seen.states if s.name == "e2e-a"] == [
            "Starting",
            "Running",
        ]
        wait_until(
            lambda: any(b.gpus and b.gpus[0].free == 4 for b in double.seen.heartbeats[-2:]),
            5,
            "GPU usage in heartbeats",
        )

        # Kill a replica: the agent restarts it, on the same endpoint.
        os.kill(pids["e2e-a"], 9)
        wait_until(
            lambda: (
                fixture_pids("model-of-e2e-a") not in ([], [pids["e2e-a"]])
                and running(double, "e2e-a")
            ),
            15,
            "e2e-a restarted",
        )
        pids["e2e-a"] = served_pid(endpoints["e2e-a"])
        assert double.seen.latest()["e2e-a"].endpoint == endpoints["e2e-a"]

        # The control plane asks for a replica's log (`tpctl logs`): both runs are in it.
        double.ask_logs("e2e-a", 5, request_id=41)
        double.ask_logs("nowhere", 5, request_id=42)
        wait_until(lambda: len(double.seen.log_replies) == 2, 5, "log replies")
        replies = {r.request_id: r for r in double.seen.log_replies}
        assert replies[41].text.count("serving model-of-e2e-a") == 2 and not replies[41].error
        assert replies[42].error == "no replica nowhere on this node"

        # The control plane goes away: the replicas keep serving throughout.
        double.stop()
        end = time.monotonic() + OUTAGE_S
        while time.monotonic() < end:
            assert {n: served_pid(e) for n, e in endpoints.items()} == pids
            time.sleep(1)

        # It comes back: the agent says what it runs; nothing started twice.
        double.start()
        wait_until(lambda: len(double.seen.hellos) == 2, 60, "reconnected")
        hello = double.seen.hellos[-1]
        assert {s.name: s.phase for s in hello.replicas} == {
            "e2e-a": "Running",
            "e2e-b": "Running",
        }
        assert hello.applied_generation == 2
        assert fixture_pids("model-of-e2e-a") == [pids["e2e-a"]]
        assert fixture_pids("model-of-e2e-b") == [pids["e2e-b"]]

        # A replayed command is ignored; an orphan the control plane no longer wants is stopped.
        double.deploy(replica("e2e-c"), generation=2)
        double.undeploy("e2e-b")
        wait_until(lambda: double.seen.latest()["e2e-b"].phase == "Stopped", 10, "e2e-b stopped")
        assert fixture_pids("model-of-e2e-b") == []
        assert "e2e-c" not in double.seen.latest() and fixture_pids("model-of-e2e-c") == []

        # The agent itself crashes and restarts: its replica is adopted, not started again.
        agent.kill()
        assert fixture_pids("model-of-e2e-a") == [pids["e2e-a"]]
        agent = AgentProcess(config, double.address, TOKEN, state_dir)
        wait_until(lambda: len(double.seen.hellos) == 3, 15, "the new agent's Hello")
        hello = double.seen.hellos[-1]
        assert [s.name for s in hello.replicas] == ["e2e-a"]
        assert hello.applied_generation == 3, "the generation survives the agent"
        double.deploy(replica("e2e-a"), generation=1)  # the server's replay: ignored
        wait_until(lambda: double.seen.latest()["e2e-a"].phase == "Running", 10, "adopted")
        assert fixture_pids("model-of-e2e-a") == [pids["e2e-a"]]
        assert "adopted pid" in agent.output() or "adopted e2e-a" in agent.output()
    finally:
        agent.stop()
        kill_recorded_replicas(state_dir)

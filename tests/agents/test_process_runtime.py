"""The process runtime driver against real replica processes (the fixture model server).

Each test runs the runtime in its own event loop, as the agent does, and
leaves no process behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
import pytest

from agents.runtimes.process import ProcessRuntime
from agents.state import LocalState, ReplicaRecord
from tests.agents.support import async_wait_until, process_config, replica, served_pid
from tokenplane.v1 import agent_pb2

Scenario = Callable[[ProcessRuntime, list[agent_pb2.ReplicaState]], Awaitable[None]]


def phases(reports: list[agent_pb2.ReplicaState], name: str) -> list[str]:
    return [s.phase for s in reports if s.name == name]


def run(
    tmp_path: Path, scenario: Scenario, *, stop_replicas: bool = True, **config: object
) -> None:
    async def main() -> None:
        reports: list[agent_pb2.ReplicaState] = []
        state = LocalState.load(tmp_path / "state.json")
        runtime = ProcessRuntime(
            process_config(**config),
            state,
            tmp_path / "logs",
            reports.append,
            gpu_models=["L4", "L4", "A100"],
        )
        try:
            await scenario(runtime, reports)
        finally:
            await runtime.close(stop_replicas=stop_replicas)

    asyncio.run(main())


def gone(pid: int) -> bool:
    """Not running: no such process, or a zombie its parent (this test) has not reaped."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def running(runtime: ProcessRuntime, name: str) -> agent_pb2.ReplicaState | None:
    for s in runtime.states():
        if s.name == name and s.phase == "Running":
            return s
    return None


def test_deploy_health_checks_until_running_then_serves(tmp_path: Path) -> None:
    async def scenario(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        rt.deploy(replica("r1", runtime="slow", power_kw=0.4), 7)
        await async_wait_until(lambda: running(rt, "r1"), 10, "r1 Running")
        state = running(rt, "r1")
        assert state is not None and state.generation == 7 and state.deployment == "llama"
        assert phases(reports, "r1") == ["Starting", "Running"]
        assert await asyncio.to_thread(served_pid, state.endpoint) == rt.pid("r1")
        assert rt.usage() == ({}, 0.4)
        pid = rt.pid("r1")
        rt.deploy(replica("r1", runtime="slow"), 8)  # a repeat: reported, not started twice
        assert reports[-1].phase == "Running" and rt.pid("r1") == pid
        assert len(psutil.Process().children()) == 1
        assert "serving model-of-r1" in await rt.logs("r1", 100)

    run(tmp_path, scenario)


def test_killed_replica_is_restarted_on_the_same_port(tmp_path: Path) -> None:
    async def scenario(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        rt.deploy(replica("r1"), 1)
        await async_wait_until(lambda: running(rt, "r1"), 10, "r1 Running")
        first = running(rt, "r1")
        assert first is not None
        old_pid = rt.pid("r1")
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        await async_wait_until(
            lambda: rt.pid("r1") not in (None, old_pid) and running(rt, "r1"), 10, "restarted"
        )
        again = running(rt, "r1")
        assert again is not None and again.endpoint == first.endpoint
        restart = [s for s in reports if s.phase == "Starting" and "SIGKILL" in s.message]
        assert restart, "the restart says why"
        assert await asyncio.to_thread(served_pid, again.endpoint) == rt.pid("r1")

    run(tmp_path, scenario)


def test_undeploy_stops_gracefully_then_forcefully(tmp_path: Path) -> None:
    async def scenario(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        rt.deploy(replica("polite"), 1)
        rt.deploy(replica("stubborn", runtime="stubborn"), 2)
        await async_wait_until(
            lambda: running(rt, "polite") and running(rt, "stubborn"), 10, "both Running"
        )
        pids = {name: rt.pid(name) for name in ("polite", "stubborn")}
        loop = asyncio.get_running_loop()
        start = loop.time()
        rt.undeploy("polite", 3)
        rt.undeploy("stubborn", 4)
        await async_wait_until(lambda: not rt.states(), 10, "both Stopped")
        took = loop.time() - start
        assert phases(reports, "polite")[-2:] == ["Terminating", "Stopped"]
        assert reports[-1].phase == "Stopped"
        assert "got SIGTERM" in await rt.logs("polite", 100) and "stopped" in await rt.logs(
            "polite", 100
        )
        assert "got SIGTERM" in await rt.logs(
            "stubborn", 100
        )  # it ignored it: killed after the grace
        assert 1.5 < took < 6, took
        for pid in pids.values():
            assert pid is not None and gone(pid)
        with pytest.raises(LookupError, match="no replica never-deployed"):
            await rt.logs("never-deployed", 10)
        rt.undeploy("never-deployed", 5)
        assert reports[-1].name == "never-deployed" and reports[-1].phase == "Stopped"

    run(tmp_path, scenario)


def test_crash_loop_is_reported_failed_and_unknown_runtime_fails_at_once(tmp_path: Path) -> None:
    async def scenario(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        rt.deploy(replica("crashy", runtime="crashing"), 1)
        rt.deploy(replica("alien", runtime="sglang"), 2)
        await async_wait_until(
            lambda: "Failed" in phases(reports, "alien"), 5, "no template: Failed"
        )
        alien = next(s for s in reports if s.name == "alien" and s.phase == "Failed")
        assert "no command template for runtime 'sglang'" in alien.message
        await async_wait_until(lambda: "Failed" in phases(reports, "crashy"), 20, "crash loop")
        crashy = next(s for s in reports if s.name == "crashy" and s.phase == "Failed")
        assert "exited with code 3" in crashy.message

    run(tmp_path, scenario, crashLoopRestarts=2)


def test_gpus_are_allocated_and_not_shared(tmp_path: Path) -> None:
    async def scenario(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        rt.deploy(replica("two-l4", gpus=2, gpu_model="L4"), 1)
        rt.deploy(replica("a100", gpus=1, gpu_model="A100"), 2)
        rt.deploy(replica("one-more-l4", gpus=1, gpu_model="L4"), 3)
        await async_wait_until(
            lambda: running(rt, "two-l4") and running(rt, "a100"), 10, "both Running"
        )
        await async_wait_until(lambda: "Failed" in phases(reports, "one-more-l4"), 5, "no L4 left")
        assert "gpus=0,1" in await rt.logs("two-l4", 100) and "gpus=2" in await rt.logs("a100", 100)
        assert rt.usage()[0] == {"L4": 2, "A100": 1}

    run(tmp_path, scenario)


def test_a_new_runtime_adopts_running_replicas_from_the_state_file(tmp_path: Path) -> None:
    """As after an agent restart: the processes outlive the runtime and are not started again."""
    pids: dict[str, int | None] = {}

    async def first(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        rt.deploy(replica("r1"), 1)
        rt.deploy(replica("r2"), 2)
        await async_wait_until(lambda: running(rt, "r1") and running(rt, "r2"), 10, "Running")
        pids.update(r1=rt.pid("r1"), r2=rt.pid("r2"))

    run(tmp_path, first, stop_replicas=False)
    assert all(pid and psutil.pid_exists(pid) for pid in pids.values())
    os.kill(pids["r2"], signal.SIGKILL)  # type: ignore[arg-type]  # dies while no agent runs

    async def second(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        assert {s.name: s.phase for s in rt.states()} == {"r1": "Starting", "r2": "Starting"}
        await async_wait_until(lambda: running(rt, "r1") and running(rt, "r2"), 10, "Running")
        assert rt.pid("r1") == pids["r1"], "adopted, not restarted"
        assert rt.pid("r2") != pids["r2"], "started again: it had died"
        state = running(rt, "r1")
        assert state is not None
        assert await asyncio.to_thread(served_pid, state.endpoint) == pids["r1"]

    run(tmp_path, second)


def test_a_stop_cut_short_by_an_agent_restart_is_finished(tmp_path: Path) -> None:
    pid: list[int | None] = []

    async def first(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        rt.deploy(replica("going", runtime="stubborn"), 1)
        await async_wait_until(lambda: running(rt, "going"), 10, "Running")
        pid.append(rt.pid("going"))
        rt.undeploy("going", 2)
        await async_wait_until(lambda: "Terminating" in phases(reports, "going"), 5, "stopping")

    run(tmp_path, first, stop_replicas=False)  # the agent exits during the grace period
    assert pid[0] is not None and psutil.pid_exists(pid[0])

    async def second(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        await async_wait_until(lambda: not rt.states(), 10, "stopped, not restarted")
        assert reports[-1].phase == "Stopped" and reports[-1].generation == 2
        assert not LocalState.load(tmp_path / "state.json").replicas

    run(tmp_path, second)
    assert gone(pid[0])


def test_a_reused_pid_is_not_adopted(tmp_path: Path) -> None:
    state = LocalState.load(tmp_path / "state.json")
    me = psutil.Process()
    state.replicas["r1"] = ReplicaRecord(
        replica=replica("r1"), generation=1, pid=me.pid, create_time=me.create_time() - 100
    )
    state.save()

    async def scenario(rt: ProcessRuntime, reports: list[agent_pb2.ReplicaState]) -> None:
        assert rt.pid("r1") is None, "a different process now has that pid"
        await async_wait_until(lambda: running(rt, "r1"), 10, "started anew")

    run(tmp_path, scenario)


@pytest.mark.parametrize("bad", ["{modle}", "'unclosed"])
def test_bad_templates_are_refused_when_the_config_loads(bad: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"unknown field|cannot split"):
        process_config(templates={"x": {"command": f"serve {bad}"}})

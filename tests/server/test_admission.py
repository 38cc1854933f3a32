"""Join admission: a join storm is told when to come back instead of queueing past its deadline."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from agents.connection import retry_after_s
from controlplane.api.admission import (
    ASSUMED_RATE_PER_S,
    MAX_RETRY_AFTER_S,
    MIN_RETRY_AFTER_S,
    JoinAdmission,
    JoinGate,
)
from tokenplane.v1 import agent_pb2, agent_pb2_grpc


def test_each_refused_agent_is_given_its_own_slot_at_the_join_rate() -> None:
    gate = JoinGate(min_limit=2, queue_s=0)
    assert gate.admit(0.0) is None and gate.admit(0.0) is None
    assert gate.admit(0.0) == MIN_RETRY_AFTER_S  # few waiting: come back soon
    for i in range(2_500):  # 500 Joins done a second over the last 5 s
        gate.done(i / 500)
        gate.in_flight += 1
    waits = [gate.admit(5.0) for _ in range(4_000)]
    assert all(w is not None for w in waits)
    # One after another, 1/500 s apart: 4,000 agents come back over 8 s, each once.
    assert waits[0] == pytest.approx(MIN_RETRY_AFTER_S)
    assert waits[-1] == pytest.approx(MIN_RETRY_AFTER_S + 3_999 / 500)
    assert len(set(waits)) == 4_000
    for _ in range(200_000):
        last = gate.admit(5.0)
    assert last == MAX_RETRY_AFTER_S  # beyond, no slot is held: it comes back for one


def test_the_joins_admitted_follow_the_rate_they_complete() -> None:
    gate = JoinGate(min_limit=1, queue_s=3.0)
    admitted = sum(gate.admit(0.0) is None for _ in range(1_000))
    assert admitted == 600  # nothing measured yet: the assumed 200 a second, for 3 s
    for i in range(1_000):  # then 1,000 done in 2 s: 500 a second
        gate.in_flight += 1
        gate.done(i / 500)
    gate.in_flight = 0
    admitted = sum(gate.admit(2.0) is None for _ in range(2_000))
    assert admitted == 1_500


def test_a_slow_server_admits_only_what_it_completes_before_the_callers_give_up() -> None:
    gate = JoinGate(min_limit=1, queue_s=3.0)
    for i in range(100):  # 20 a second over the last 5 s
        gate.in_flight += 1
        gate.done(i / 20)
    admitted = sum(gate.admit(5.0) is None for _ in range(1_000))
    assert admitted == 60  # 3 s of work at 20 a second, not the assumed 200


def test_failed_joins_do_not_pass_for_capacity() -> None:
    gate = JoinGate(min_limit=1, queue_s=3.0)
    for i in range(2_000):  # 1,000 a second, every one refused its credential
        assert gate.admit(i / 1_000) is None
        gate.done(i / 1_000, joined=False)
    assert gate.in_flight == 0
    assert gate.rate_per_s(2.0) == ASSUMED_RATE_PER_S  # still the assumed rate: nothing joined


def test_slots_in_the_past_are_not_waited_for() -> None:
    gate = JoinGate(min_limit=0, queue_s=0)
    for _ in range(300):
        gate.admit(0.0)
    assert gate.next_slot_s > MIN_RETRY_AFTER_S
    # Long after: those agents came back and were served; a new refusal waits the least.
    assert gate.admit(100.0) == MIN_RETRY_AFTER_S


class _HeldJoins(agent_pb2_grpc.AgentServiceServicer):
    """Joins that finish when the test says: the Join behind the gate, held in flight."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def Join(self, request: Any, context: Any) -> agent_pb2.JoinResponse:
        self.entered += 1
        await self.release.wait()
        return agent_pb2.JoinResponse(node_name=request.node.metadata.name)


def test_a_join_beyond_the_limit_is_refused_with_a_retry_after_the_agent_reads() -> None:
    async def body() -> None:
        held = _HeldJoins()
        server = grpc.aio.server(interceptors=[JoinAdmission(JoinGate(min_limit=2, queue_s=0))])
        agent_pb2_grpc.add_AgentServiceServicer_to_server(held, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = agent_pb2_grpc.AgentServiceStub(channel)

                def join(name: str) -> Any:
                    node = agent_pb2.JoinRequest()
                    node.node.metadata.name = name
                    return stub.Join(node, timeout=10)

                first, second = join("a"), join("b")
                while held.entered < 2:
                    await asyncio.sleep(0.01)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await join("c")
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "retry in" in (refused.value.details() or "")
                assert retry_after_s(refused.value) == MIN_RETRY_AFTER_S
                held.release.set()
                assert (await first).node_name == "a" and (await second).node_name == "b"
                assert (await join("c")).node_name == "c"  # admitted once the others are done
        finally:
            await server.stop(0)

    asyncio.run(body())

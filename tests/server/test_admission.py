"""Join admission: a join storm waits its turn in a bounded queue, and beyond it is told
when to come back."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from agents.connection import retry_after_s
from controlplane.api.admission import (
    ASSUMED_RATE_PER_S,
    JOIN_METHOD,
    MAX_RETRY_AFTER_S,
    MIN_RETRY_AFTER_S,
    SLOT_PACE,
    STORM_HOLD_S,
    JoinAdmission,
    JoinGate,
    Turn,
)
from tokenplane.v1 import agent_pb2, agent_pb2_grpc


def _saturate(gate: JoinGate, rate_per_s: float, seconds: float, start_s: float = 0.0) -> float:
    """Joins completing at `rate_per_s` while others wait; returns the time after."""
    gate.waiting += 1
    n = round(rate_per_s * seconds)
    for i in range(n):
        gate.done(start_s + i / rate_per_s)
    gate.waiting -= 1
    return start_s + n / rate_per_s


def test_joins_beyond_the_workers_wait_and_beyond_the_queue_are_refused() -> None:
    gate = JoinGate(workers=2, queue_s=1.0, min_queue=3)
    assert [gate.admit(0.0) for _ in range(2)] == [Turn.NOW, Turn.NOW]
    # Nothing measured: the assumed rate's second of work may wait.
    queued = [gate.admit(0.0) for _ in range(int(ASSUMED_RATE_PER_S))]
    assert queued == [Turn.QUEUED] * int(ASSUMED_RATE_PER_S)
    assert gate.admit(0.0) == pytest.approx(1.0)  # refused: come back when the queue drained
    assert gate.waiting == ASSUMED_RATE_PER_S and gate.in_flight == 2


def test_a_finished_join_hands_its_worker_to_the_first_waiting() -> None:
    gate = JoinGate(workers=1, queue_s=0.0, min_queue=1)
    assert gate.admit(0.0) is Turn.NOW and gate.admit(0.0) is Turn.QUEUED
    assert gate.done(1.0) is True  # one waits: it takes the worker
    gate.left_queue()
    assert (gate.in_flight, gate.waiting) == (1, 0)
    assert gate.done(2.0) is False  # none waits: the worker is free
    assert gate.in_flight == 0


def test_each_refused_agent_is_given_its_own_slot_after_the_queue_drains() -> None:
    gate = JoinGate(workers=1, queue_s=2.0, min_queue=0)
    now_s = _saturate(gate, 500, 5.0)  # 500 Joins a second while others waited
    assert gate.rate_per_s == pytest.approx(500, rel=0.01)
    assert gate.admit(now_s) is Turn.NOW
    queued = 0
    while (turn := gate.admit(now_s)) is Turn.QUEUED:
        queued += 1
    assert queued == pytest.approx(1_000, abs=1)  # 2 s of work
    waits = [turn, *(gate.admit(now_s) for _ in range(3_999))]
    assert all(isinstance(w, float) for w in waits)
    # One after another, from when the queue is drained, at the measured rate half as fast
    # again (one back early waits, one back late leaves the server idle): each comes once.
    pace = 500 * SLOT_PACE
    assert waits[0] == pytest.approx(1_000 / pace, rel=0.01)
    assert waits[-1] == pytest.approx((1_000 + 3_999) / pace, rel=0.01)
    assert len(set(waits)) == 4_000
    for _ in range(300_000):  # 400 s of slots at 750 a second
        last = gate.admit(now_s)
    assert last == MAX_RETRY_AFTER_S  # beyond, no slot is held: it comes back for one


def test_the_rate_is_measured_only_while_joins_wait() -> None:
    gate = JoinGate(workers=4, queue_s=3.0, min_queue=0)
    for i in range(100):  # a lull: 20 a second, nobody waiting; says nothing of capacity
        assert gate.admit(i / 20) is Turn.NOW
        gate.done(i / 20)
    assert gate.rate_per_s == ASSUMED_RATE_PER_S
    _saturate(gate, 20, 5.0, start_s=10.0)  # a slow server while a queue stood: measured
    assert gate.rate_per_s == pytest.approx(20, rel=0.05)
    gate.in_flight = gate.workers
    queued = sum(gate.admit(20.0) is Turn.QUEUED for _ in range(1_000))
    assert queued == pytest.approx(60, abs=1)  # 3 s of work


def test_failed_joins_do_not_pass_for_capacity() -> None:
    gate = JoinGate(workers=1, queue_s=3.0)
    gate.waiting += 1
    for i in range(2_000):  # 1,000 a second, every one refused its credential
        gate.done(i / 1_000, joined=False)
        gate.in_flight += 1
    assert gate.rate_per_s == ASSUMED_RATE_PER_S  # still the assumed rate: nothing joined


def test_the_queue_leaves_file_descriptors_free() -> None:
    """Each queued Join holds a connection: near the process's limit, joiners are sent
    away with a retry-after (their connections close) instead of queued."""
    gate = JoinGate(workers=1, queue_s=60.0, min_queue=1_000, fd_budget=301, min_free_fds=256)
    assert gate.admit(0.0) is Turn.NOW
    turns = [gate.admit(0.0) for _ in range(100)]
    assert turns.count(Turn.QUEUED) == 44  # 300 left beside the Join worked, 256 kept free
    assert all(isinstance(t, float) for t in turns[44:])
    gate.fd_budget = None  # no limit known: the queue's own bound only
    assert gate.admit(0.0) is Turn.QUEUED


def test_slots_in_the_past_are_not_waited_for() -> None:
    gate = JoinGate(workers=0, queue_s=0, min_queue=0)
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


def test_joins_wait_their_turn_and_beyond_the_queue_get_a_retry_after_the_agent_reads() -> None:
    async def body() -> None:
        held = _HeldJoins()
        gate = JoinGate(workers=2, queue_s=0, min_queue=2)
        server = grpc.aio.server(interceptors=[JoinAdmission(gate)])
        agent_pb2_grpc.add_AgentServiceServicer_to_server(held, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = agent_pb2_grpc.AgentServiceStub(channel)

                def join(name: str, timeout_s: float = 10) -> Any:
                    node = agent_pb2.JoinRequest()
                    node.node.metadata.name = name
                    return stub.Join(node, timeout=timeout_s)

                first, second = join("a"), join("b")
                while held.entered < 2:
                    await asyncio.sleep(0.01)
                gone = join("gone", timeout_s=0.5)  # gives up while it waits
                third = join("c")
                while gate.waiting < 2:
                    await asyncio.sleep(0.01)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await join("d")
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "retry in" in (refused.value.details() or "")
                assert retry_after_s(refused.value) >= MIN_RETRY_AFTER_S
                with pytest.raises(grpc.aio.AioRpcError) as late:
                    await gone
                assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert held.entered == 2  # nothing worked while the workers were busy
                held.release.set()
                assert (await first).node_name == "a" and (await second).node_name == "b"
                assert (await third).node_name == "c"  # took a worker as one freed
                assert held.entered == 3  # the Join whose caller had gone was never worked
                assert (gate.in_flight, gate.waiting) == (0, 0)
                assert (await join("d")).node_name == "d"
        finally:
            await server.stop(0)

    asyncio.run(body())


def test_a_caller_gone_while_two_workers_free_hands_on_its_turn() -> None:
    """A queued Join cancelled in the same loop turn as two Joins finish: the worker
    handed to it passes on, and the gate's counts come back to zero (CI once caught
    the second release finding an empty queue)."""

    class Details:
        method = JOIN_METHOD

    class Context:  # the servicer context's clock, nothing else read before the Join
        def time_remaining(self) -> None:
            return None

    async def body() -> None:
        held = _HeldJoins()
        gate = JoinGate(workers=2, queue_s=0, min_queue=2)
        admission = JoinAdmission(gate)

        async def continuation(_: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(held.Join)

        handler = await admission.intercept_service(continuation, Details())
        assert handler is not None and handler.unary_unary is not None

        def join(name: str) -> asyncio.Task[Any]:
            request = agent_pb2.JoinRequest()
            request.node.metadata.name = name
            return asyncio.create_task(handler.unary_unary(request, Context()))

        first, second, gone, last = (join(n) for n in ("a", "b", "gone", "c"))
        while gate.waiting < 2:
            await asyncio.sleep(0)
        held.release.set()  # both workers finish on the next steps...
        gone.cancel()  # ...and the waiter's caller goes in the same turn
        results = await asyncio.gather(first, second, gone, last, return_exceptions=True)
        assert [r.node_name for r in (results[0], results[1], results[3])] == ["a", "b", "c"]
        assert isinstance(results[2], asyncio.CancelledError)
        assert (gate.in_flight, gate.waiting) == (0, 0)

    asyncio.run(body())


def test_a_storm_lasts_while_joins_wait_and_a_while_after() -> None:
    gate = JoinGate(workers=1, queue_s=0, min_queue=1)
    assert gate.admit(0.0) is Turn.NOW and not gate.storm(0.0)  # a worker was free
    assert gate.admit(1.0) is Turn.QUEUED and gate.storm(1.0)
    assert gate.storm(1.9)  # the server's sweep, while one still waits
    gate.done(2.0)
    gate.left_queue()
    assert gate.storm(1.9 + STORM_HOLD_S - 0.1)  # no flip with every lull in the queue
    assert not gate.storm(1.9 + STORM_HOLD_S + 0.1)

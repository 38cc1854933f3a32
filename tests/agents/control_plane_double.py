"""A test double of the control plane: a real gRPC AgentService that tests drive by hand.

It speaks the same protocol as `tokenplane-server` (a Join, on the Hello or as a
call, one Connect stream, Settings, generations that resume from the agent's Hello)
but decides nothing: the test says which replica to deploy or undeploy, and reads back every Hello,
replica state and heartbeat. It runs in a thread with its own event loop, so
the agent under test is a real process and the double can be stopped for an
exact outage and started again on the same port.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from tokenplane.v1 import agent_pb2, agent_pb2_grpc, resources_pb2

T = TypeVar("T")
TOKEN = "double-bootstrap-token"


@dataclass
class Seen:
    """Everything agents told the double, across its restarts."""

    hellos: list[agent_pb2.Hello] = field(default_factory=list)
    states: list[agent_pb2.ReplicaState] = field(default_factory=list)
    heartbeats: list[agent_pb2.Heartbeat] = field(default_factory=list)
    joins: list[resources_pb2.Node] = field(default_factory=list)
    log_replies: list[agent_pb2.LogReply] = field(default_factory=list)

    def latest(self) -> dict[str, agent_pb2.ReplicaState]:
        """Each replica's latest state, starting from the last Hello."""
        latest = {s.name: s for s in (self.hellos[-1].replicas if self.hellos else [])}
        for s in self.states:
            latest[s.name] = s
        return latest


class _Service(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, double: ControlPlaneDouble) -> None:
        self._double = double

    async def Join(
        self, request: agent_pb2.JoinRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.JoinResponse:
        if request.bootstrap_token != TOKEN:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad bootstrap token")
        self._double.seen.joins.append(request.node)
        name = request.node.metadata.name
        return agent_pb2.JoinResponse(node_name=name, node_token=f"node-token-{name}")

    async def _joined(
        self, hello: agent_pb2.Hello, context: grpc.aio.ServicerContext
    ) -> agent_pb2.NodeCredential | None:
        """The node token a Hello's Join earns (None: no Join, the agent has its token)."""
        if not hello.HasField("join"):
            return None
        joined = await self.Join(hello.join, context)
        return agent_pb2.NodeCredential(node_token=joined.node_token)

    async def Connect(
        self,
        request_iterator: AsyncIterator[agent_pb2.AgentMessage],
        context: grpc.aio.ServicerContext,
    ) -> None:
        double = self._double
        first = await context.read()
        hello = first.hello
        double.seen.hellos.append(hello)
        credential = await self._joined(hello, context)
        double.generation = max(double.generation, hello.applied_generation)
        double.stream = context
        await context.write(
            agent_pb2.ControlMessage(
                settings=agent_pb2.Settings(
                    heartbeat_interval_ms=double.heartbeat_interval_ms, credential=credential
                )
            )
        )
        try:
            while True:
                message = await context.read()
                if message is grpc.aio.EOF:
                    break
                if message.HasField("heartbeat"):
                    double.seen.heartbeats.append(message.heartbeat)
                elif message.HasField("replica_state"):
                    double.seen.states.append(message.replica_state)
                elif message.HasField("log_reply"):
                    double.seen.log_replies.append(message.log_reply)
        finally:
            if double.stream is context:
                double.stream = None


class ControlPlaneDouble:
    def __init__(self, *, heartbeat_interval_ms: int = 200) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.seen = Seen()
        self.generation = 0
        self.stream: grpc.aio.ServicerContext | None = None
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    def start(self) -> None:
        """Serves on a free port the first time, and on the same port after a stop."""

        async def start() -> None:
            server = grpc.aio.server()
            agent_pb2_grpc.add_AgentServiceServicer_to_server(_Service(self), server)
            self.port = server.add_insecure_port(self.address)
            await server.start()
            self._server = server

        self._call(start())

    def stop(self) -> None:
        """Gone at once, as in a crash: streams cut, the port closed."""

        async def stop() -> None:
            if self._server is not None:
                await self._server.stop(grace=None)
                self._server = None
            self.stream = None

        self._call(stop())

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def connected(self) -> bool:
        return self.stream is not None

    def send(
        self, build: Callable[[int], agent_pb2.Command], *, generation: int | None = None
    ) -> int:
        """Sends the next command (or, with `generation`, a replay of an old one)."""

        async def send() -> int:
            assert self.stream is not None, "no agent connected"
            if generation is None:
                self.generation += 1
            gen = generation if generation is not None else self.generation
            await self.stream.write(agent_pb2.ControlMessage(command=build(gen)))
            return gen

        result: int = self._call(send())
        return result

    def deploy(self, replica: resources_pb2.Replica, *, generation: int | None = None) -> int:
        return self.send(
            lambda g: agent_pb2.Command(
                generation=g, deploy=agent_pb2.DeployReplica(replica=replica)
            ),
            generation=generation,
        )

    def ask_logs(self, replica: str, tail_lines: int, request_id: int) -> None:
        async def ask() -> None:
            assert self.stream is not None, "no agent connected"
            request = agent_pb2.LogRequest(
                request_id=request_id, replica=replica, tail_lines=tail_lines
            )
            await self.stream.write(agent_pb2.ControlMessage(log_request=request))

        self._call(ask())

    def undeploy(self, name: str) -> int:
        return self.send(
            lambda g: agent_pb2.Command(generation=g, undeploy=agent_pb2.UndeployReplica(name=name))
        )

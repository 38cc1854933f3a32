"""The Agent API: Join, and one Connect stream per node.

A node without a node token joins on its stream: its Hello carries the Join,
which is worked as the Join call is (the same method, admission queue and
audit record) before the stream is served, and the first Settings carries the
node token. One call a node instead of two: in a join storm each call costs
the server as much as the Join's own work does.

The stream is the node's liveness: it opens with a Hello, then carries
heartbeats (telemetry, written straight into the inventory's columns) and
replica states up, and settings and commands down. When it ends, for any
reason, the node is NotReady at once.

One live session per node: a second Connect for a node whose stream is open
waits (up to SESSION_HANDOVER_WAIT_S) for that session to end, and takes over
without a NotReady in between if it does; else it is refused
(ALREADY_EXISTS, with a retry-after). It never replaces the live session.
So the agent that holds the stream is the only one that gets commands and
whose reports count, a node whose live session heartbeats never turns
NotReady, and an impostor holding a node's token cannot push its agent off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from controlplane import __version__
from controlplane.api.admission import JOIN_METHOD, JoinAdmission
from controlplane.api.decoding import Undecodable
from controlplane.api.identity import NodeIdentity, peer_names
from controlplane.api.interceptors import Audit
from controlplane.api.status import RETRY_AFTER_KEY, code_of, details, unary
from controlplane.errors import (
    AlreadyExists,
    ControlPlaneError,
    Invalid,
    NotFound,
    Timeout,
    clip,
)
from controlplane.inventory import InventoryTable, Transition, liveness
from controlplane.objects import ObjectStore
from controlplane.resources import Node, Replica, parse_manifest
from controlplane.resources.codec import message_dict, to_message
from controlplane.resources.replica import ReplicaReport
from controlplane.resources.wellknown import ReplicaPhase
from controlplane.tracing import server_span
from tokenplane.v1 import agent_pb2, agent_pb2_grpc

log = logging.getLogger(__name__)

TransitionHandler = Callable[[Transition], None]

# How long a refused second agent waits before it asks again.
SESSION_HELD_RETRY_AFTER_MS = "1000"
# A second Connect for a node with a live session waits this long for it to end
# before it is refused: an upgrade whose new agent starts while the old one stops
# then takes over the session without the node ever turning NotReady.
SESSION_HANDOVER_WAIT_S = 10.0
# A node key shorter than this is no secret (agents make 43: 32 random bytes, base64url).
MIN_NODE_KEY_CHARS = 32


class AgentObserver(Protocol):
    """What the reconciler hears from agents."""

    async def on_hello(self, node: str, reports: Sequence[ReplicaReport]) -> None: ...

    async def on_replica_state(self, node: str, report: ReplicaReport) -> None: ...


def report_of(state: agent_pb2.ReplicaState) -> ReplicaReport | None:
    """The wire state as plain data; None (logged) for a phase this server does not know."""
    try:
        phase = ReplicaPhase(state.phase)
    except ValueError:
        log.warning("replica %s: unknown phase %r from its agent; ignored", state.name, state.phase)
        return None
    return ReplicaReport(state.name, phase, state.message, state.endpoint)


@dataclass(eq=False, slots=True)
class Session:
    """One connected agent: where its commands go, and the generation they carry.

    Slotted, and its end signal made only when a second Connect waits for it:
    the server holds one per node, so every byte here is multiplied by the fleet.
    """

    node: str
    context: grpc.aio.ServicerContext
    generation: int
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0  # Connects for the same node waiting to take over when this one ends
    ended: bool = False
    _end: asyncio.Future[None] | None = None

    async def send(self, message: agent_pb2.ControlMessage) -> None:
        async with self.write_lock:
            await self.context.write(message)

    def end(self) -> None:
        self.ended = True
        if self._end is not None and not self._end.done():
            self._end.set_result(None)

    async def wait_ended(self) -> None:
        if self.ended:
            return
        if self._end is None:
            self._end = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._end)  # one waiter timing out must not cancel it for others


class AgentHub:
    """Connected agents by node name; the reconciler sends commands through it."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self._log_requests: dict[int, asyncio.Future[agent_pb2.LogReply]] = {}
        self._next_request = itertools.count(1)

    async def logs(self, node: str, replica: str, tail_lines: int, timeout_s: float = 10) -> str:
        """The tail of a replica's log, asked of its agent over the stream."""
        session = self.sessions.get(node)
        if session is None:
            raise ControlPlaneError(f"node {node} is not connected; its agent holds the log")
        request_id = next(self._next_request)
        reply = asyncio.get_running_loop().create_future()
        self._log_requests[request_id] = reply
        try:
            await session.send(
                agent_pb2.ControlMessage(
                    log_request=agent_pb2.LogRequest(
                        request_id=request_id, replica=replica, tail_lines=tail_lines
                    )
                )
            )
            answer = await asyncio.wait_for(reply, timeout_s)
        except TimeoutError:
            raise Timeout(f"node {node} did not send the log within {timeout_s:.0f}s") from None
        finally:
            self._log_requests.pop(request_id, None)
        if answer.error:
            raise ControlPlaneError(f"node {node}: {answer.error}")
        return answer.text

    def log_reply(self, reply: agent_pb2.LogReply) -> None:
        waiting = self._log_requests.get(reply.request_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(reply)

    def connected(self, node: str) -> bool:
        return node in self.sessions

    async def deploy(self, replica: Replica) -> None:
        """Tells the replica's node to run it (the reconciler's `AgentCommands`)."""
        message = to_message(replica)
        await self.command(
            replica.spec.node_name,
            lambda generation: agent_pb2.Command(
                generation=generation, deploy=agent_pb2.DeployReplica(replica=message)
            ),
        )

    async def undeploy(self, node: str, name: str) -> None:
        """Tells `node` to stop replica `name`."""
        await self.command(
            node,
            lambda generation: agent_pb2.Command(
                generation=generation, undeploy=agent_pb2.UndeployReplica(name=name)
            ),
        )

    async def command(self, node: str, build: Callable[[int], agent_pb2.Command]) -> int | None:
        """Sends the node its next command; returns its generation, None if not connected."""
        session = self.sessions.get(node)
        if session is None:
            return None
        session.generation += 1
        command = build(session.generation)
        try:
            await session.send(agent_pb2.ControlMessage(command=command))
        except Exception:  # the stream died under us; liveness will notice
            log.warning("could not send command to %s", node)
            return None
        return session.generation

    async def broadcast(self, message: agent_pb2.ControlMessage) -> None:
        for session in list(self.sessions.values()):
            try:
                await session.send(message)
            except Exception:
                log.debug("broadcast to %s failed", session.node)


def _joins(first: object) -> bool:
    """Whether a stream's first message is a Hello that carries a Join."""
    return (
        isinstance(first, agent_pb2.AgentMessage)
        and first.HasField("hello")
        and first.hello.HasField("join")
    )


class AgentService(agent_pb2_grpc.AgentServiceServicer):
    def __init__(
        self,
        *,
        objects: ObjectStore,
        table: InventoryTable,
        identity: NodeIdentity,
        hub: AgentHub,
        on_transition: TransitionHandler,
        observer: AgentObserver,
        admission: JoinAdmission,
        audit: Audit | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._objects = objects
        self._admission = admission  # the Join call's is an interceptor; a stream's is here
        self._audit = audit
        self._table = table
        self._identity = identity
        self._hub = hub
        self._on_transition = on_transition
        self._observer = observer
        self._clock = clock

    @unary
    async def Join(
        self, request: agent_pb2.JoinRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.JoinResponse:
        # Authenticated before the manifest is read: a stranger learns nothing from errors.
        name = request.node.metadata.name
        registered = await self._objects.exists("Node", name)
        admission = await self._identity.admit(
            name=name,
            bootstrap_token=request.bootstrap_token,
            metadata=context.invocation_metadata(),
            names=peer_names(context),
            registered=registered,
            node_key=request.node_key,
        )
        if request.node_key and not MIN_NODE_KEY_CHARS <= len(request.node_key) <= 256:
            raise Invalid(f"nodeKey: {MIN_NODE_KEY_CHARS} to 256 characters")
        if not request.HasField("node"):
            raise Invalid("node: required; send the node's manifest")
        joining = parse_manifest(message_dict(request.node), "node")
        if not isinstance(joining, Node):
            raise Invalid(f"node.kind: must be Node, got {joining.kind}")
        joining.metadata.labels.update(admission.labels)
        self._table.check_node(joining)
        # Kept before the node is written: a Join cancelled in between (its client gave up)
        # is retried with the same key, and that retry is the node's own.
        await self._identity.keep_key(name, request.node_key)
        stored = await self._register(joining, new=not registered)
        self._table.upsert(stored)
        token, expiration = await self._identity.issue(stored.name)
        return agent_pb2.JoinResponse(
            node_name=stored.name,
            node_token=token,
            node_uid=stored.metadata.uid,
            node_token_expiration_timestamp=expiration,
        )

    async def _register(self, joining: Node, *, new: bool) -> Node:
        """The agent owns what the node is; the operator owns cordon state and extra labels.

        `new`: the node was not stored when this Join began (so try a create first).
        """

        def merge(current: Node) -> Node | None:
            spec = joining.spec.model_copy(update={"unschedulable": current.spec.unschedulable})
            labels = {**current.metadata.labels, **joining.metadata.labels}
            if spec == current.spec and labels == current.metadata.labels:
                return None
            current.spec, current.metadata.labels = spec, labels
            return current

        if new:
            try:
                return await self._objects.create(joining)
            except AlreadyExists:  # lost a race with a concurrent Join of the same node
                pass
        return await self._objects.update("Node", joining.name, merge)

    async def Connect(
        self,
        request_iterator: AsyncIterator[agent_pb2.AgentMessage],
        context: grpc.aio.ServicerContext,
    ) -> None:
        credential: agent_pb2.NodeCredential | None = None
        try:
            first = await context.read()
            if _joins(first):
                credential = await self._join_on_stream(first.hello.join, context)
                name = first.hello.join.node.metadata.name
            else:  # authenticated before the message is judged, as the Join call is
                metadata = context.invocation_metadata()
                name = await self._identity.node_of(metadata, peer_names(context))
                if isinstance(first, Undecodable):
                    raise Invalid(first.message())
                if first is grpc.aio.EOF or not first.HasField("hello"):
                    raise Invalid("the first message on a Connect stream must be a Hello")
            if first.hello.node_name != name:
                raise Invalid(
                    f"hello.nodeName: {clip(first.hello.node_name)!r} is not this node ({name})"
                )
            # A node the table knows (it joined, or was loaded at start) needs no store
            # read: during a join storm the store's one writer is busy with the Joins.
            if name in self._table:
                slot = self._table.slot(name)
            else:
                node = await self._objects.get("Node", name)
                if not isinstance(node, Node):
                    raise NotFound("Node", name)
                slot = self._table.upsert(node)
                del node  # the stream holds only the table's row, not the manifest
        except grpc.aio.AbortError:
            raise
        except Exception as e:
            await context.abort(code_of(e), details(e))
        generation = first.hello.applied_generation
        reports = [r for r in map(report_of, first.hello.replicas) if r is not None]
        del first  # the stream lives for days: it keeps no message (each holds ~1 kB)
        await self._serve(name, slot, generation, reports, context, credential)

    async def _join_on_stream(
        self, request: agent_pb2.JoinRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.NodeCredential:
        """The Hello's Join, worked as the Join call is (admitted, traced, audited, in
        that order, as the call's interceptors are); aborts the stream if refused."""
        target = ("Node", request.node.metadata.name)
        audited = self._audit.call(JOIN_METHOD, target, context) if self._audit else None
        async with self._admission.turn(context):
            with server_span(JOIN_METHOD, context), audited or contextlib.nullcontext():
                joined = await self.Join(request, context)
        return agent_pb2.NodeCredential(
            node_token=joined.node_token,
            expiration_timestamp=joined.node_token_expiration_timestamp,
        )

    async def _serve(
        self,
        name: str,
        slot: int,
        generation: int,
        reports: list[ReplicaReport],
        context: grpc.aio.ServicerContext,
        credential: agent_pb2.NodeCredential | None,
    ) -> None:
        table = self._table
        await self._wait_for_handover(name, slot, context)
        session = Session(name, context, generation=generation)
        self._hub.sessions[name] = session
        window_s = liveness.reconnect_window_s(
            len(table),
            max_reconnect_rate_per_s=liveness.RECONNECT_RATE_PER_S,
            min_s=liveness.RECONNECT_MIN_WINDOW_S,
            max_s=liveness.RECONNECT_CAP_S,
        )
        await session.send(
            agent_pb2.ControlMessage(
                settings=agent_pb2.Settings(
                    heartbeat_interval_ms=round(table.interval_s * 1000),
                    server_version=__version__,
                    reconnect_window_ms=round(window_s * 1000),
                    probes=table.rtt.probe_settings,
                    credential=credential,
                )
            )
        )
        self._emit(table.connect(slot, self._clock()))
        await self._observer.on_hello(name, reports)
        clock, emit = self._clock, self._emit
        try:
            while True:
                message = await context.read()
                if message is grpc.aio.EOF:
                    break
                if isinstance(message, Undecodable):
                    raise Invalid(message.message())
                kind = message.WhichOneof("body")
                if kind == "heartbeat":
                    if (t := table.heartbeat(slot, message.heartbeat, clock())) is not None:
                        emit(t)
                elif kind == "replica_state":
                    if (report := report_of(message.replica_state)) is not None:
                        await self._observer.on_replica_state(name, report)
                elif kind == "log_reply":
                    self._hub.log_reply(message.log_reply)
                elif kind == "credential_ack":
                    await self._identity.saved(name, message.credential_ack.expiration_timestamp)
                del message  # not held while the next read waits (see Connect)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass  # the peer went away or keepalive found it dead: same as EOF
        except ControlPlaneError as e:  # a message the table refused: the agent's error
            await context.abort(code_of(e), details(e))
        finally:
            if self._hub.sessions.get(name) is session:
                del self._hub.sessions[name]
                if not session.waiting:  # else a waiting Connect takes over, still Ready
                    self._emit(table.disconnect(slot))
            session.end()

    async def _wait_for_handover(
        self, name: str, slot: int, context: grpc.aio.ServicerContext
    ) -> None:
        """One live session per node: wait for the holder to end, else refuse this Connect."""
        deadline = self._clock() + SESSION_HANDOVER_WAIT_S
        if name in self._hub.sessions:
            log.info("node %s: a second session waits for the live one to end", name)
        while (holder := self._hub.sessions.get(name)) is not None:
            holder.waiting += 1
            try:
                await asyncio.wait_for(holder.wait_ended(), max(0.0, deadline - self._clock()))
            except TimeoutError:
                if holder.ended:
                    continue  # it ended as time ran out, counting on us to take over
                await context.abort(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"node {name} already has a live session: one agent per node (a second "
                    "agent for this node, an upgrade overlapping the old agent, or someone "
                    "else holding its token); this one is let in once that session ends",
                    trailing_metadata=((RETRY_AFTER_KEY, SESSION_HELD_RETRY_AFTER_MS),),
                )
            except BaseException:
                # Handed the node and gone before taking it (the peer left): nobody holds it.
                if holder.ended and name not in self._hub.sessions:
                    self._emit(self._table.disconnect(slot))
                raise
            finally:
                holder.waiting -= 1

    def _emit(self, transition: Transition | None) -> None:
        if transition is not None:
            self._on_transition(transition)

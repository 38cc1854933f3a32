"""One node's link to the control plane: join, hold the stream, reconnect.

Whatever happens to the control plane, the node keeps running its replicas; the
link only reports and obeys. On every (re)connect the Hello tells the server
what actually runs here and the highest command generation applied, so the two
sides converge and a replayed command is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from agents import __version__
from agents.credentials import NodeTokens
from agents.runtime import Runtime
from controlplane.tracing import client_span
from tokenplane.v1 import agent_pb2, agent_pb2_grpc, resources_pb2

log = logging.getLogger(__name__)

CHANNEL_OPTIONS = [
    # The agent's pings find a dead control plane whose connection stays open (a
    # partition); a killed server closes the connection at once. The timeout is
    # long because a busy server acks late, and a stream dropped for that is a
    # healthy node NotReady (benchmarks/heartbeats.py --busy). The server finds a
    # dead agent by the stream closing or by its heartbeat deadline.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.ping_timeout_ms", 20_000),
    ("grpc.http2.bdp_probe", 0),  # heartbeats are small: no window tuning, no extra pings
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 0),
    # With several control-plane addresses ("ipv4:a:p,b:p"), each retry tries the
    # next: standbys refuse, so the agent soon lands on the leader.
    ("grpc.lb_policy_name", "round_robin"),
    # A connection of its own per link, even for the thousands of a hollow fleet in
    # one process (gRPC would otherwise share one socket between equal channels).
    ("grpc.use_local_subchannel_pool", 1),
]

Telemetry = Callable[[Runtime], agent_pb2.Heartbeat]
_Stream = grpc.aio.StreamStreamCall[agent_pb2.AgentMessage, agent_pb2.ControlMessage]

DEFAULT_LOG_LINES = 100
MAX_LOG_CHARS = 1 << 20  # well inside the 4 MiB message limit


# Trailing metadata of a refusal: wait at least this many milliseconds before trying again.
RETRY_AFTER_KEY = "retry-after-ms"
JOIN_METHOD = "/tokenplane.v1.AgentService/Join"  # what a Join's spans are named
# A Join (carried by the stream's Hello) may wait its turn in the server's queue
# during a join storm (the server queues what it completes in a third of this:
# controlplane/api/admission.py); no node token within this long, the agent retries.
JOIN_TIMEOUT_S = 60.0
MAX_TOLD_WAIT_S = 600.0  # the longest wait a server's retry-after is obeyed for
TOLD_WAIT_JITTER = 0.1


class StreamClosed(Exception):
    """The server ended the stream cleanly (e.g. it is shutting down)."""


class JoinUnanswered(Exception):
    """The server neither answered the Hello's Join nor refused it within JOIN_TIMEOUT_S."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, so that a fleet does not reconnect in step.

    Retry n waits a uniformly random time in [0, min(max_s, window * 2**n)]
    (AWS's "full jitter"). The window is the server's `reconnect_window_ms`,
    sized to its fleet, else `initial_s`. The count of retries goes back to 0
    only once a stream has stayed up `healthy_s`: a server that accepts the
    stream and drops it again at once (overloaded, restarting) sees the agent
    slow down instead of coming back every second.
    """

    initial_s: float = 1.0
    max_s: float = 30.0
    healthy_s: float = 60.0

    def delay_s(self, attempt: int, rng: random.Random, *, window_s: float = 0.0) -> float:
        """The wait before retry `attempt` (0-based) after a failure."""
        window = window_s if window_s > 0 else self.initial_s
        return rng.uniform(0, min(self.max_s, window * 2**attempt))

    def retry_after_s(self, told_s: float, rng: random.Random) -> float:
        """The wait when the server said when to come back: that long, plus up to a tenth.

        The server chose the time, so it does not count as a failure, and it may
        exceed the backoff cap (a join storm's queue: each agent is given its own
        slot); the jitter only keeps agents told the same time from returning in step.
        """
        return min(MAX_TOLD_WAIT_S, rng.uniform(told_s, told_s * (1 + TOLD_WAIT_JITTER)))


def retry_after_s(error: grpc.aio.AioRpcError) -> float:
    """The server's retry-after from a refusal's trailing metadata; 0 if it gave none."""
    for key, value in error.trailing_metadata() or ():
        if key == RETRY_AFTER_KEY:
            try:
                return max(0.0, int(value) / 1000)
            except (TypeError, ValueError):
                log.warning("ignoring a malformed %s: %r", RETRY_AFTER_KEY, value)
    return 0.0


class NodeLink:
    def __init__(
        self,
        *,
        node: resources_pb2.Node,
        server: str,
        bootstrap_token: str,
        runtime_factory: Callable[[Callable[[agent_pb2.ReplicaState], None]], Runtime],
        telemetry: Telemetry,
        credentials: grpc.ChannelCredentials | None = None,
        backoff: Backoff = Backoff(),
        rng: random.Random | None = None,
        applied_generation: int = 0,
        on_applied: Callable[[int], None] | None = None,
        on_settings: Callable[[agent_pb2.Settings], None] | None = None,
        tokens: NodeTokens | None = None,
    ) -> None:
        self.node = node
        self.name = node.metadata.name
        self._server = server
        self._bootstrap_token = bootstrap_token
        self._credentials = credentials
        self._telemetry = telemetry
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._outbox: asyncio.Queue[agent_pb2.AgentMessage] = asyncio.Queue()
        self.runtime = runtime_factory(self._report)
        # The node's own token, kept in `tokens` (on disk): a restarted agent connects with
        # it, and presents it when it re-joins, since a join token registers new names only.
        self._tokens = tokens or NodeTokens(None)
        self.node_token: str | None = self._tokens.get(self.name)
        self._joined = self.node_token is not None
        # Restored from the agent's local state, so that a restarted agent ignores the
        # server's replays of commands it applied before; `on_applied` persists it.
        self.applied_generation = applied_generation
        self._on_applied = on_applied
        self._on_settings = on_settings  # e.g. the RTT prober takes its targets from them
        self.interval_s = 1.0
        self.reconnect_window_s = 0.0  # from the server's Settings; 0: the backoff's own
        self.connected = asyncio.Event()
        self._connected_at = 0.0
        self._log_tasks: set[asyncio.Task[None]] = set()

    def _report(self, state: agent_pb2.ReplicaState) -> None:
        self._outbox.put_nowait(agent_pb2.AgentMessage(replica_state=state))

    def _channel(self) -> grpc.aio.Channel:
        if self._credentials is None:
            return grpc.aio.insecure_channel(self._server, options=CHANNEL_OPTIONS)
        return grpc.aio.secure_channel(self._server, self._credentials, options=CHANNEL_OPTIONS)

    async def run(self) -> None:
        """Forever: connect, serve the stream, and after any failure back off and retry."""
        failures = 0  # in a row, since the last stream that stayed up `healthy_s`
        loop = asyncio.get_running_loop()
        while True:
            at_least_s = 0.0
            try:
                async with self._channel() as channel:
                    await self._stream(agent_pb2_grpc.AgentServiceStub(channel))
            except StreamClosed:
                log.debug("%s: server closed the stream", self.name)
            except JoinUnanswered:
                log.warning(
                    "%s: no answer to its Join in %.0f s; retrying", self.name, JOIN_TIMEOUT_S
                )
            except grpc.aio.AioRpcError as e:
                at_least_s = retry_after_s(e)
                if e.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND):
                    self._joined = False  # the server forgot us or revoked the token: join again
                if e.code() in (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.PERMISSION_DENIED,
                ):
                    log.error("%s: %s", self.name, e.details())
                elif e.code() == grpc.StatusCode.ALREADY_EXISTS:
                    log.warning("%s: refused: %s; retrying", self.name, e.details())
                elif e.code() == grpc.StatusCode.UNAUTHENTICATED:
                    log.warning("%s: %s; joining again", self.name, e.details())
                else:
                    log.debug("%s: stream ended: %s", self.name, e.code().name)
            except asyncio.InvalidStateError:
                log.debug("%s: stream finished while writing", self.name)
            except Exception:  # the link must outlive anything the network does
                log.exception("%s: unexpected error; reconnecting", self.name)
            finally:
                was_up_s = loop.time() - self._connected_at if self.connected.is_set() else 0.0
                self.connected.clear()
            if was_up_s >= self._backoff.healthy_s:
                failures = 0
            if at_least_s > 0:
                delay_s = self._backoff.retry_after_s(at_least_s, self._rng)
            else:
                delay_s = self._backoff.delay_s(
                    failures, self._rng, window_s=self.reconnect_window_s
                )
                failures += 1
            log.debug("%s: reconnecting in %.1f s (failure %d)", self.name, delay_s, failures)
            await asyncio.sleep(delay_s)

    def _credential(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.node_token}"),) if self.node_token else ()

    def _new_token(self, token: str) -> None:
        self.node_token = token
        self._tokens.save(self.name, token)
        self._joined = True

    async def _stream(self, stub: agent_pb2_grpc.AgentServiceStub) -> None:
        # Not joined: the Hello carries the Join, presenting the node's own token and key
        # if it has them (a re-join), and the first Settings brings the node token.
        join = (
            None
            if self._joined
            else agent_pb2.JoinRequest(
                bootstrap_token=self._bootstrap_token,
                node=self.node,
                node_key=self._tokens.key(self.name),
            )
        )
        call: _Stream | None = None
        reader: asyncio.Task[None] | None = None
        try:
            with client_span(JOIN_METHOD) if join else contextlib.nullcontext(()) as traced:
                call = stub.Connect(metadata=self._credential() + traced)
                # States queued so far are superseded by the Hello's snapshot, taken at once
                # after (a state reported while the Hello is written is sent after it).
                while not self._outbox.empty():
                    self._outbox.get_nowait()
                await call.write(
                    agent_pb2.AgentMessage(
                        hello=agent_pb2.Hello(
                            node_name=self.name,
                            agent_version=__version__,
                            replicas=self.runtime.states(),
                            applied_generation=self.applied_generation,
                            join=join,
                        )
                    )
                )
                reader = asyncio.create_task(self._read(call))
                seq = 0
                if join is not None:
                    # Read as soon as the Join is worked: the node has sent a heartbeat when
                    # it turns Ready, not a round trip through this (busy) agent later.
                    seq += 1
                    await call.write(self._heartbeat(seq))
                    await self._joined_within(reader, JOIN_TIMEOUT_S)
            await self._write(call, reader, seq)
        finally:
            if reader is not None:
                reader.cancel()
            if call is not None:
                call.cancel()

    async def _joined_within(self, reader: asyncio.Task[None], timeout_s: float) -> None:
        """Waits for the answer to the Hello's Join (the first Settings) before the
        heartbeats after the first: while the Join waits its turn, the server reads
        nothing more."""
        answered = asyncio.create_task(self.connected.wait())
        try:
            await asyncio.wait({reader, answered}, timeout=timeout_s, return_when="FIRST_COMPLETED")
        finally:
            answered.cancel()
        if reader.done():
            await reader  # the server's refusal, e.g. RESOURCE_EXHAUSTED with a retry-after
        if not self.connected.is_set():
            raise JoinUnanswered

    def _heartbeat(self, seq: int) -> agent_pb2.AgentMessage:
        heartbeat = self._telemetry(self.runtime)
        heartbeat.seq = seq
        return agent_pb2.AgentMessage(heartbeat=heartbeat)

    async def _write(self, call: _Stream, reader: asyncio.Task[None], seq: int) -> None:
        """Heartbeats every interval (the first at once) and whatever the outbox holds."""
        loop = asyncio.get_running_loop()
        next_beat = loop.time()
        while not reader.done():
            timeout = max(0.0, next_beat - loop.time())
            try:
                message = await asyncio.wait_for(self._outbox.get(), timeout)
            except TimeoutError:
                seq += 1
                message = self._heartbeat(seq)
                next_beat = loop.time() + self.interval_s
            try:
                await call.write(message)
            except asyncio.InvalidStateError:
                break  # the call has ended: its status (e.g. a refusal) comes from the reader
        await reader

    async def _read(self, call: _Stream) -> None:
        while True:
            message = await call.read()
            if not isinstance(message, agent_pb2.ControlMessage):  # grpc.aio.EOF
                raise StreamClosed
            kind = message.WhichOneof("body")
            if kind == "settings":
                if message.settings.heartbeat_interval_ms:
                    self.interval_s = message.settings.heartbeat_interval_ms / 1000
                if message.settings.reconnect_window_ms:
                    self.reconnect_window_s = message.settings.reconnect_window_ms / 1000
                if message.settings.HasField("credential"):
                    credential = message.settings.credential
                    self._new_token(credential.node_token)
                    ack = agent_pb2.CredentialAck(
                        expiration_timestamp=credential.expiration_timestamp
                    )
                    self._outbox.put_nowait(agent_pb2.AgentMessage(credential_ack=ack))
                if not self.connected.is_set():
                    self._connected_at = asyncio.get_running_loop().time()
                self.connected.set()
                if self._on_settings is not None:
                    self._on_settings(message.settings)
            elif kind == "command":
                self._apply(message.command)
            elif kind == "log_request":
                task = asyncio.create_task(self._send_log(message.log_request))
                self._log_tasks.add(task)
                task.add_done_callback(self._log_tasks.discard)

    async def _send_log(self, request: agent_pb2.LogRequest) -> None:
        """Answers a log request from the runtime, without holding up the stream's reader."""
        reply = agent_pb2.LogReply(request_id=request.request_id)
        try:
            text = await self.runtime.logs(request.replica, request.tail_lines or DEFAULT_LOG_LINES)
            reply.text = text[-MAX_LOG_CHARS:]
        except LookupError as e:
            reply.error = str(e)
        except Exception as e:  # the reply must go back whatever the runtime did
            log.exception("%s: logs of %s", self.name, request.replica)
            reply.error = f"cannot read the log: {e}"
        self._outbox.put_nowait(agent_pb2.AgentMessage(log_reply=reply))

    def _apply(self, command: agent_pb2.Command) -> None:
        if command.generation <= self.applied_generation:
            return  # a replay: already applied
        action = command.WhichOneof("action")
        if action == "deploy":
            self.runtime.deploy(command.deploy.replica, command.generation)
        elif action == "undeploy":
            self.runtime.undeploy(command.undeploy.name, command.generation)
        self.applied_generation = command.generation
        if self._on_applied is not None:
            self._on_applied(command.generation)

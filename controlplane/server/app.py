"""Wires the control plane together and runs its loops.

Everything with a side effect (the store, the gRPC server, clocks, Ray) is
created here and handed to the parts, which is what lets tests and benchmarks
build the same pieces around real processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from controlplane.address import is_loopback
from controlplane.api.admission import JoinAdmission, JoinGate
from controlplane.api.agent import AgentHub, AgentService
from controlplane.api.auth import Authenticator, NodeTokenSigner, load_api_tokens, new_token
from controlplane.api.decoding import TolerantDecoding
from controlplane.api.fleet import FleetService
from controlplane.api.identity import IdentityService, NodeIdentity
from controlplane.api.leader import LeaderOnly
from controlplane.gcfreeze import keep_collections_short
from controlplane.inventory import InventoryTable, Transition, liveness
from controlplane.inventory.view import ready_condition
from controlplane.localfleet.clock import SharedClock
from controlplane.logs import redact
from controlplane.objects import ObjectStore, now_rfc3339
from controlplane.reconciler.controller import Reconciler, ReconcilerConfig
from controlplane.reconciler.placer import InlinePlacer, Placer
from controlplane.regions import load_regions
from controlplane.resources import ModelDeployment, Node, NodeStatus
from controlplane.resources.event import ObjectReference
from controlplane.rttmatrix import MatrixFeed
from controlplane.server.audit import AuditLog
from controlplane.server.config import ServerConfig
from controlplane.server.eventlog import LoggingObjectStore
from controlplane.server.podlabel import PodLabeler
from controlplane.server.telemetry import (
    DeploymentFigures,
    TimedStore,
    deployment_figures,
    observe_fleet,
    server_interceptors,
    setup_telemetry,
)
from controlplane.store import Conflict, EtcdTLS, Store, open_store
from controlplane.store.election import LeaderElection
from tokenplane.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Where versions before 0.9 kept the bootstrap token and the node-token key in the clear:
# deleted at start. Secrets now live in files (or Kubernetes Secrets mounted as files).
SECRETS = "/tokenplane/secrets/"
LEADER_KEY = "/tokenplane/leader"
SWEEP_INTERVAL_S = 0.25
MAX_SWEEP_LAG_S = 0.5
FLUSH_INTERVAL_S = 0.5
DEPLOYMENT_FIGURES_INTERVAL_S = 5.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# Liveness: a closed stream is seen at once (SIGKILL, a crash), a frozen agent by the
# heartbeat deadline (inventory/liveness.py), which stretches with measured lateness.
# The server's own HTTP/2 pings are only a slow backstop for peers whose connection
# stays open while they are gone. Measured (benchmarks/heartbeats.py --busy 1, 10k
# nodes): with a ping a second and a 2 s timeout, acks from busy agents came late and
# even the bare grpc.aio server dropped healthy streams (GOAWAY ping_timeout) until
# it held 2,685 of 10,000. ping_timeout_ms is what makes the timeout apply at all
# (MEASURED.md). BDP probes are pings too, and heartbeats are too small to need them.
# Agents ping every 10 s (agents/connection.py); min-interval and strikes accept it.
GRPC_SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.ping_timeout_ms", 20_000),
    ("grpc.http2.bdp_probe", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 500),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.server.max_pending_requests", 20000),
    ("grpc.server.max_pending_requests_hard_limit", 40000),
    ("grpc.so_reuseport", 0),
]


async def _forget_stored_secrets(store: Store) -> None:
    """Deletes the plaintext secrets that earlier versions kept in the store."""
    kvs, _ = await store.list(SECRETS)
    for kv in kvs:
        with contextlib.suppress(Conflict):
            await store.delete(kv.key)
    if kvs:
        log.warning(
            "deleted %d plaintext secrets that an earlier version kept in the store (%s); "
            "nodes joined before re-join: approve them with `tpctl approve node NAME`",
            len(kvs),
            SECRETS,
        )


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _private_secret(path: Path, *, create: bool, flag: str) -> str:
    """A secret kept in a file (e.g. a mounted Kubernetes Secret); made 0600 if allowed."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        if not create:
            raise ValueError(
                f"{flag} {path}: no such file; off loopback the server does not make one: "
                "give every replica the same file, e.g. a mounted Kubernetes Secret made with "
                "`head -c 32 /dev/urandom | base64`"
            ) from None
        text = new_token()
        _write_private(path, text + "\n")
    if not text:
        raise ValueError(f"{flag} {path}: the file is empty")
    return text


def _fd_budget() -> int | None:
    """The file descriptors left for connections: the process's limit less those it holds
    before serving (None: unlimited, or no /proc to count them)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        held = len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
    return None if soft == resource.RLIM_INFINITY else soft - held


class ConditionRecorder:
    """Persists Ready transitions and records their events, off the stream's path.

    Heartbeats never reach the store; a transition does, so that after a
    restart `tpctl get nodes` shows each node's last known condition. Writes of
    the condition are coalesced per node (only the latest matters); every
    transition still gets its event.
    """

    def __init__(self, objects: ObjectStore) -> None:
        self._objects = objects
        self._latest: dict[str, tuple[Transition, str]] = {}
        self._events: list[Transition] = []

    def add(self, transition: Transition) -> None:
        self._latest[transition.name] = (transition, now_rfc3339())
        self._events.append(transition)

    async def flush(self) -> None:
        latest, self._latest = self._latest, {}
        events, self._events = self._events, []
        # Concurrent writes share the store's group commit: a join storm's 10k Ready
        # conditions and events one commit at a time made each flush last minutes.
        await _in_batches(self._persist, list(latest.values()))
        await _in_batches(self._record, events)

    async def _persist(self, latest: tuple[Transition, str]) -> None:
        t, since = latest

        def set_ready(node: Node) -> Node:
            status = node.status or NodeStatus()
            others = [c for c in status.conditions if c.type != "Ready"]
            status.conditions = [ready_condition(t.ready, t.reason, since), *others]
            node.status = status
            return node

        try:
            await self._objects.update("Node", t.name, set_ready)
        except Exception:
            log.exception("could not persist the Ready condition of %s", t.name)

    async def _record(self, t: Transition) -> None:
        try:
            await self._objects.record_event(
                ObjectReference(kind="Node", name=t.name),
                "NodeReady" if t.ready else "NodeNotReady",
                f"node {t.name} is {'Ready' if t.ready else 'NotReady'}: {t.reason}",
                type_="Normal" if t.ready else "Warning",
                source="inventory",
            )
        except Exception:
            log.exception("could not record an event for %s", t.name)


FLUSH_BATCH = 64  # writes in flight at once: a group commit's worth (store/sqlite.py)


async def _in_batches(write: Callable[[T], Awaitable[None]], items: Sequence[T]) -> None:
    for start in range(0, len(items), FLUSH_BATCH):
        await asyncio.gather(*map(write, items[start : start + FLUSH_BATCH]))


class ControlPlane:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.table = InventoryTable(interval_s=config.heartbeat_interval_s)
        self.regions = load_regions(config.regions)
        self.table.set_regions(self.regions, config.probe_interval_s)
        self.matrix_feed: MatrixFeed | None = None
        self.hub = AgentHub()
        self.admission = JoinAdmission(JoinGate(fd_budget=_fd_budget()))
        self._told_reconnect_window_s = liveness.RECONNECT_MIN_WINDOW_S  # the agents' own
        self.health = health.aio.HealthServicer()
        self._tasks: list[asyncio.Task[None]] = []
        self.election: LeaderElection | None = None
        self.labeler: PodLabeler | None = None
        self.health_server: grpc.aio.Server | None = None
        self.lost_leadership = asyncio.Event()
        self.deployment_figures = DeploymentFigures()

    async def start(self) -> None:
        config = self.config
        etcd_tls = (
            EtcdTLS(
                str(config.etcd_ca_file),
                str(config.etcd_cert_file) if config.etcd_cert_file else None,
                str(config.etcd_key_file) if config.etcd_key_file else None,
            )
            if config.etcd_ca_file
            else None
        )
        # cast: TimedStore forwards every Store method (timing the calls), by __getattr__
        self.store = cast(Store, TimedStore(open_store(config.store, tls=etcd_tls)))
        self.objects = LoggingObjectStore(self.store)
        self.recorder = ConditionRecorder(self.objects)
        self.auth = self._authenticator()
        await _forget_stored_secrets(self.store)
        self.identity = self._node_identity()
        self.placer = await self._placer()
        self.reconciler = Reconciler(
            objects=self.objects,
            inventory=self.table,
            agents=self.hub,
            placer=self.placer,
            config=ReconcilerConfig(
                replan_interval_s=config.replan_interval_s,
                max_moves_per_replan=config.max_moves_per_replan,
                max_concurrent_moves=config.max_concurrent_moves,
                node_grace_s=config.node_grace_s,
            ),
            event_clock=time.time
            if config.clock_file is None
            else SharedClock(config.clock_file).now_s,
        )
        self.server = grpc.aio.server(
            options=GRPC_SERVER_OPTIONS,
            interceptors=[
                TolerantDecoding(),  # first: outermost, so garbage never reaches the others
                self.admission,  # before spans: a refused Join costs next to nothing
                *server_interceptors(),
                *([self.audit_log] if self.audit_log else []),
                *([LeaderOnly(self.is_leader)] if config.leader_elect else []),
            ],
        )
        agent_pb2_grpc.add_AgentServiceServicer_to_server(
            AgentService(
                objects=self.objects,
                table=self.table,
                identity=self.identity,
                hub=self.hub,
                on_transition=self._transition,
                observer=self.reconciler,
                admission=self.admission,
                audit=self.audit_log,
            ),
            self.server,
        )
        fleet_pb2_grpc.add_FleetServiceServicer_to_server(
            FleetService(
                objects=self.objects,
                table=self.table,
                auth=self.auth,
                drain=self.reconciler.drain,
                on_cordon=self.table.set_unschedulable,
                on_change=self.reconciler.wake,
                logs=self.hub,
                replicas_on=self.reconciler.replicas_on,
                on_node_deleted=self._node_deleted,
            ),
            self.server,
        )
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(
            IdentityService(
                identity=self.identity,
                objects=self.objects,
                auth=self.auth,
                close_session=self._close_session,
            ),
            self.server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        services = (
            agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
            fleet_pb2.DESCRIPTOR.services_by_name["FleetService"].full_name,
            identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(services, self.server)
        setup_telemetry(config.metrics_listen)
        observe_fleet(
            self.table,
            lambda: self.reconciler.replicas_by_phase,
            is_leader=self.is_leader,
            deployments=lambda: self.deployment_figures,
        )
        self.port = self._bind()
        self._api_services = services[:3]
        for service in self._api_services:
            await self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        if config.rtt_matrix:
            self.matrix_feed = MatrixFeed(
                config.rtt_matrix,
                self.table.rtt.aliases,
                self.table.set_rtt_matrix,
                refresh_s=config.rtt_matrix_refresh_s,
            )
            await self.matrix_feed.refresh()
            self._tasks.append(asyncio.create_task(self.matrix_feed.run(), name="rtt-matrix"))
        await self.server.start()
        if config.health_listen:
            self.health_server = grpc.aio.server()
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
            self.health_server.add_insecure_port(config.health_listen)
            await self.health_server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        if config.leader_label_pod:
            self.labeler = PodLabeler(config.leader_label_pod)
            await self.labeler.set(False)
        if config.leader_elect:
            self.election = LeaderElection(
                self.store, LEADER_KEY, identity=f"{socket.gethostname()}/{self.address}"
            )
            self._tasks.append(asyncio.create_task(self._campaign(), name="leader-election"))
        else:
            await self._lead()
        log.info("serving on %s (store %s)", self.address, config.store.split("?")[0])

    def is_leader(self) -> bool:
        return self.election is None or self.election.is_leader

    async def _lead(self) -> None:
        """Take over the fleet: the live loops start and the APIs report SERVING."""
        await self._load_nodes()
        self._tasks += [
            asyncio.create_task(keep_collections_short(), name="gc-freeze"),
            asyncio.create_task(self._sweep_loop(), name="liveness-sweep"),
            asyncio.create_task(self._flush_loop(), name="condition-flush"),
            asyncio.create_task(self.reconciler.run(), name="reconciler"),
            asyncio.create_task(self._deployments_loop(), name="deployment-figures"),
            asyncio.create_task(self._rotation_loop(), name="node-token-rotation"),
        ]
        for service in self._api_services:
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)

    async def _campaign(self) -> None:
        """Lead when elected; on losing the lease, stop, as kube-controller-manager does.

        A fresh process (restarted by Kubernetes) campaigns with a clean state,
        which is simpler and safer than un-leading a process that ran the loops.
        """
        assert self.election is not None
        async with self.election:
            await self.election.wait_until_leader()
            log.info(
                "elected leader as %s",
                self.election.identity,
                extra={"event": "LeaderElected", "identity": self.election.identity},
            )
            await self._lead()
            if self.labeler is not None:
                await self.labeler.set(True)
            while self.election.is_leader:
                await asyncio.sleep(0.5)
        log.error("lost the leadership; stopping", extra={"event": "LeaderLost"})
        if self.labeler is not None:
            await self.labeler.set(False)
        self.lost_leadership.set()

    @property
    def address(self) -> str:
        host = self.config.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def _bind(self) -> int:
        config = self.config
        if not config.tls:
            return self.server.add_insecure_port(config.listen)
        assert config.tls_cert_file and config.tls_key_file
        ca = config.tls_client_ca_file.read_bytes() if config.tls_client_ca_file else None
        credentials = grpc.ssl_server_credentials(
            [(config.tls_key_file.read_bytes(), config.tls_cert_file.read_bytes())],
            root_certificates=ca,
            require_client_auth=ca is not None,
        )
        return self.server.add_secure_port(config.listen, credentials)

    def _authenticator(self) -> Authenticator:
        config = self.config
        api_tokens = load_api_tokens(config.api_tokens_file) if config.api_tokens_file else None
        redact(*(t.token.get_secret_value() for t in api_tokens or ()))
        self.audit_log = AuditLog(config.audit_log) if config.audit_log else None
        return Authenticator(api_tokens=api_tokens)

    def _node_identity(self) -> NodeIdentity:
        """The bootstrap token (no limits) and the node-token key, from files, never the store.

        Without their flags both live in --state-dir, made there on first start on
        loopback; off loopback the signing key must be given (every replica needs the
        same one).
        """
        config = self.config
        bootstrap = _private_secret(
            config.bootstrap_token_file or config.state_dir / "bootstrap-token",
            create=config.bootstrap_token_file is None,
            flag="--bootstrap-token-file",
        )
        key = _private_secret(
            config.signing_key_file or config.state_dir / "node-signing-key",
            create=config.signing_key_file is None and is_loopback(config.listen),
            flag="--signing-key-file",
        )
        redact(bootstrap, key)
        return NodeIdentity(
            store=self.store,
            signer=NodeTokenSigner(key.encode()),
            bootstrap_token=bootstrap,
            token_ttl_s=config.node_token_ttl_s,
        )

    async def _node_deleted(self, name: str) -> None:
        """A deleted node's tokens die with it: a new node of that name joins afresh."""
        await self.identity.revoke(name)
        await self._close_session(name, f"node {name} was deleted")

    async def _close_session(self, name: str, details: str) -> None:
        """Ends a node's live stream with UNAUTHENTICATED (its credentials were revoked)."""
        session = self.hub.sessions.get(name)
        if session is not None:
            with contextlib.suppress(Exception):  # AbortError: the status went out
                await session.context.abort(grpc.StatusCode.UNAUTHENTICATED, details)

    async def _rotation_loop(self) -> None:
        """Sends connected nodes a fresh token once theirs is past half its life."""
        identity = self.identity
        period_s = min(60.0, identity.token_ttl_s / 10)
        while True:
            await asyncio.sleep(period_s)
            for name in identity.due(time.time(), list(self.hub.sessions)):
                session = self.hub.sessions.get(name)
                if session is None:
                    continue
                try:
                    credential = await identity.rotate(name)
                    await session.send(
                        agent_pb2.ControlMessage(settings=agent_pb2.Settings(credential=credential))
                    )
                except Exception:  # the stream died under us: the next Connect gets one
                    log.warning("could not send node %s its rotated token", name)

    async def _load_nodes(self) -> None:
        """Registered nodes enter the table NotReady; their agents' streams make them Ready."""
        nodes, _ = await self.objects.list("Node")
        for node in nodes:
            assert isinstance(node, Node)
            self.table.upsert(node)

    async def _placer(self) -> Placer:
        if self.config.scheduler == "inline":
            return InlinePlacer()
        from controlplane.reconciler.ray_placer import RayPlacer

        return await RayPlacer.start(self.config.ray_address)

    def _transition(self, transition: Transition) -> None:
        self.recorder.add(transition)
        if not transition.ready:
            self.reconciler.wake()  # re-place its replicas now, not at the next tick

    async def _sweep_loop(self) -> None:
        """Expires silent nodes and retunes the heartbeat interval to the fleet's size and lag."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(SWEEP_INTERVAL_S)
            now = time.monotonic()
            # Woken late, this process was stalled (a join storm, a GC pause): heartbeats
            # queued up unread are not missed ones. Expiring now would flap healthy nodes
            # and add writes to a server already behind; the next sweep decides.
            if now - before <= SWEEP_INTERVAL_S + MAX_SWEEP_LAG_S:
                for transition in self.table.expire(now):
                    self._transition(transition)
            gate = self.admission.gate
            gate.streams = len(self.hub.sessions)  # each holds a descriptor
            joining = self.table.joining = gate.storm(now)
            wanted = liveness.heartbeat_interval_s(
                len(self.table),  # registered, not connected: a joining fleet slows at once
                base_s=self.config.heartbeat_interval_s,
                max_rate_per_s=self.config.max_heartbeat_rate,
                lag_s=self.table.lag_s,  # behind on reading them: slow the fleet down
                joining=joining,  # Joins wait their turn: heartbeats yield to them
            )
            window = liveness.reconnect_window_s(
                len(self.table),
                max_reconnect_rate_per_s=liveness.RECONNECT_RATE_PER_S,
                min_s=liveness.RECONNECT_MIN_WINDOW_S,
                max_s=liveness.RECONNECT_CAP_S,
            )
            told = self._told_reconnect_window_s
            if liveness.interval_changed(self.table.interval_s, wanted) or (
                liveness.interval_changed(told, window)
            ):
                self.table.set_intervals(wanted, now_s=now)
                self._told_reconnect_window_s = window
                await self.hub.broadcast(
                    agent_pb2.ControlMessage(
                        settings=agent_pb2.Settings(
                            heartbeat_interval_ms=round(wanted * 1000),
                            reconnect_window_ms=round(window * 1000),
                        )
                    )
                )

    async def _deployments_loop(self) -> None:
        """Unschedulable deployments and SLO attainment, from their statuses, for /metrics."""
        while True:
            try:
                deployments = await self.objects.list_of(ModelDeployment)
                self.deployment_figures = deployment_figures(
                    (d.name, d.status) for d in deployments
                )
            except Exception:
                log.exception("could not read the deployments' statuses for the metrics")
            await asyncio.sleep(DEPLOYMENT_FIGURES_INTERVAL_S)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await self.recorder.flush()

    async def stop(self, grace_s: float = 2.0) -> None:
        await self.health.enter_graceful_shutdown()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.labeler is not None and self.is_leader():
            await self.labeler.set(False)
        if self.health_server is not None:
            await self.health_server.stop(grace_s)
        await self.server.stop(grace_s)
        await self.recorder.flush()
        await self.placer.close()
        await self.store.close()
        if self.audit_log is not None:
            self.audit_log.close()

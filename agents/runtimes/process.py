"""The `process` runtime driver: each replica is a local process, e.g. `vllm serve`.

For every replica it is told to run, the driver renders the command template
of the model's runtime, gives it a free port (and its GPUs through
CUDA_VISIBLE_DEVICES), starts it in its own session with its output appended
to a log file, and supervises it:

    Starting ──health check passes──▶ Running ──exits / fails N checks──▶ Starting (restart,
       ▲                                                                   with backoff)
       └─────────────── after `crashLoopRestarts` restarts without a stable run: Failed

A replica that dies is restarted here, with exponential backoff, while it is
reported `Starting` (with the reason in its message): the control plane
replaces a replica only when it is `Failed`, so that a crash loop moves it
and a single crash does not. `undeploy` stops it gracefully: SIGTERM to its
process group, SIGKILL after the grace period.

Replicas run in their own sessions, so they outlive the agent; every start is
written to the local state file (pid, start time, port, GPUs) before anything
else happens, so that a restarted agent adopts them instead of starting them
twice. Liveness is a poll of the process each second (a waitpid or a /proc
read); readiness is an HTTP GET of the template's health path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from agents.config import ProcessRuntimeConfig, ProcessTemplate
from agents.runtime import StateListener
from agents.state import LocalState, ReplicaRecord
from agents.templates import format_words, split_command
from tokenplane.v1 import agent_pb2, resources_pb2

log = logging.getLogger(__name__)

LIVENESS_POLL_S = 1.0
STARTUP_POLL_S = 0.25
HEALTH_TIMEOUT_S = 2.0
STABLE_RUN_S = 60.0  # a run this long resets the restart backoff
MAX_LOG_BYTES = 16 << 20  # a log larger than this is rotated (to .1) at the next start
KILL_WAIT_S = 5.0


class _Process:
    """A replica's process: our child (reaped with waitpid) or adopted (checked in /proc)."""

    def __init__(self, pid: int, create_time: float, popen: subprocess.Popen[bytes] | None):
        self.pid = pid
        self.create_time = create_time
        self._popen = popen

    @classmethod
    def spawn(cls, argv: list[str], env: dict[str, str], log_path: Path) -> _Process:
        with open(log_path, "ab") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group, and it outlives the agent
            )
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            create_time = 0.0  # already gone: the supervisor sees it exit
        return cls(popen.pid, create_time, popen)

    @classmethod
    def adopt(cls, pid: int, create_time: float) -> _Process | None:
        """The process recorded in the state file, if it still runs (and the pid is not reused)."""
        if pid <= 0:
            return None
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - create_time) > 0.01:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return cls(pid, create_time, None)

    def alive(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        try:
            proc = psutil.Process(self.pid)
            return (
                abs(proc.create_time() - self.create_time) <= 0.01
                and proc.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False

    def exit_reason(self) -> str:
        if self._popen is None or self._popen.returncode is None:
            return "exited"
        code = self._popen.returncode
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"

    def signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def terminate(self, grace_s: float) -> None:
        """SIGTERM to the whole group; SIGKILL to what is left after the grace period."""
        self.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self.signal_group(signal.SIGKILL)  # stragglers in the group, too
        deadline = time.monotonic() + KILL_WAIT_S
        while self.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _probe_host(bind_host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bind_host, bind_host)


def healthy(url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.HTTPError, ValueError):
        return False


def tail(path: Path, lines: int, max_bytes: int = 1 << 20) -> str:
    """The last `lines` lines of a file, reading at most `max_bytes` from its end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return ""
    return b"\n".join(data.splitlines()[-lines:]).decode(errors="replace")


@dataclass(eq=False)
class _Replica:
    record: ReplicaRecord
    phase: str = "Pending"
    message: str = ""
    process: _Process | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0  # since the last stable run
    stopping: bool = False

    @property
    def name(self) -> str:
        return self.record.replica.metadata.name


class ProcessRuntime:
    """Runs replicas as local processes. Create it inside the agent's event loop."""

    def __init__(
        self,
        config: ProcessRuntimeConfig,
        state: LocalState,
        log_dir: Path,
        on_state: StateListener,
        *,
        gpu_models: list[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._state = state
        self._log_dir = log_dir
        self._on_state = on_state
        self._gpu_models = gpu_models  # index -> model, as CUDA numbers the devices
        self._clock = clock
        self._replicas: dict[str, _Replica] = {}
        log_dir.mkdir(parents=True, exist_ok=True)
        for name, record in state.replicas.items():
            process = _Process.adopt(record.pid, record.create_time)
            rep = _Replica(record, phase="Starting")
            if process is not None:
                rep.process, rep.message = process, f"adopted pid {process.pid}"
                log.info("adopted %s (pid %d)", name, process.pid)
            else:
                rep.message = "not running when the agent started"
            self._replicas[name] = rep
            if record.stopping:
                rep.stopping = True
                rep.task = asyncio.get_running_loop().create_task(self._stop(rep))
            else:
                rep.task = asyncio.get_running_loop().create_task(
                    self._supervise(rep), name=f"replica-{name}"
                )

    # The Runtime interface --------------------------------------------------------------

    def deploy(self, replica: resources_pb2.Replica, generation: int) -> None:
        name = replica.metadata.name
        existing = self._replicas.get(name)
        if existing is not None:
            self._report(existing)  # already ours: say how it is
            return
        rep = _Replica(ReplicaRecord(replica=replica, generation=generation))
        self._replicas[name] = rep
        self._state.replicas[name] = rep.record
        self._state.save()
        rep.task = asyncio.get_running_loop().create_task(
            self._supervise(rep), name=f"replica-{name}"
        )

    def undeploy(self, name: str, generation: int) -> None:
        rep = self._replicas.get(name)
        if rep is None:
            self._on_state(
                agent_pb2.ReplicaState(name=name, phase="Stopped", generation=generation)
            )
            return
        if rep.stopping:
            return
        rep.stopping = rep.record.stopping = True
        rep.record.generation = generation
        self._state.save()
        if rep.task is not None:
            rep.task.cancel()
        rep.task = asyncio.get_running_loop().create_task(self._stop(rep), name=f"stop-{name}")

    def states(self) -> list[agent_pb2.ReplicaState]:
        return [self._state_of(rep) for rep in self._replicas.values()]

    def usage(self) -> tuple[dict[str, int], float]:
        gpus: dict[str, int] = {}
        power_kw = 0.0
        for rep in self._replicas.values():
            for index in rep.record.gpus:
                if index < len(self._gpu_models):  # a GPU may have gone since it was given
                    model = self._gpu_models[index]
                    gpus[model] = gpus.get(model, 0) + 1
            power_kw += rep.record.replica.spec.resources.power_kw
        return gpus, power_kw

    async def logs(self, name: str, lines: int) -> str:
        """Kept after the replica stops, for a post-mortem, until the state dir is cleaned."""
        path = self.log_path(name)
        if name not in self._replicas and not path.exists():
            raise LookupError(f"no replica {name} on this node")
        return await asyncio.to_thread(tail, path, lines)

    # Beyond the interface ---------------------------------------------------------------

    def log_path(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        rep = self._replicas.get(name)
        return rep.process.pid if rep and rep.process else None

    async def close(self, *, stop_replicas: bool = False) -> None:
        """Stops supervising; the replicas keep running unless `stop_replicas` (as in tests)."""
        for rep in self._replicas.values():
            if rep.task is not None:
                rep.task.cancel()
        await asyncio.gather(
            *(r.task for r in self._replicas.values() if r.task), return_exceptions=True
        )
        if stop_replicas:
            await asyncio.gather(
                *(r.process.terminate(0.5) for r in self._replicas.values() if r.process)
            )

    # Supervision ------------------------------------------------------------------------

    def _state_of(self, rep: _Replica) -> agent_pb2.ReplicaState:
        record = rep.record
        return agent_pb2.ReplicaState(
            name=rep.name,
            deployment=record.replica.spec.deployment,
            phase=rep.phase,
            endpoint=self._endpoint(record.port) if rep.phase == "Running" else "",
            message=rep.message,
            generation=record.generation,
        )

    def _report(self, rep: _Replica) -> None:
        self._on_state(self._state_of(rep))

    def _set(self, rep: _Replica, phase: str, message: str = "") -> None:
        if (rep.phase, rep.message) != (phase, message):
            rep.phase, rep.message = phase, message
            log.info("replica %s: %s%s", rep.name, phase, f" ({message})" if message else "")
            self._report(rep)

    def _endpoint(self, port: int) -> str:
        host = self._config.advertise_host or self._config.bind_host
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname()
        return f"http://{host}:{port}"

    def _template(self, rep: _Replica) -> ProcessTemplate:
        runtime = rep.record.replica.spec.model.runtime or "vllm"
        template = self._config.templates.get(runtime)
        if template is None:
            known = ", ".join(sorted(self._config.templates))
            raise LookupError(f"no command template for runtime {runtime!r} (have: {known})")
        return template

    def _allocate_gpus(self, rep: _Replica) -> list[int]:
        resources = rep.record.replica.spec.resources
        if not resources.gpus:
            return []
        held = {i for r in self._replicas.values() if r is not rep for i in r.record.gpus}
        free = [
            i
            for i, model in enumerate(self._gpu_models)
            if i not in held and (not resources.gpu_model or model == resources.gpu_model)
        ]
        if len(free) < resources.gpus:
            raise LookupError(
                f"needs {resources.gpus} {resources.gpu_model or 'GPU'}(s), {len(free)} free"
            )
        return free[: resources.gpus]

    def _start(self, rep: _Replica) -> None:
        """Spawns the replica and records it before anything else can happen."""
        template = self._template(rep)
        record, spec = rep.record, rep.record.replica.spec
        if not record.gpus:
            record.gpus = self._allocate_gpus(rep)
        record.port = record.port or free_port(self._config.bind_host)
        argv = format_words(
            split_command(template.command),
            {
                "model": spec.model.name,
                "version": spec.model.version,
                "artifact": spec.model.artifact_uri or spec.model.name,
                "port": str(record.port),
                "host": self._config.bind_host,
                "name": rep.name,
                "deployment": spec.deployment,
                "gpus": str(len(record.gpus)),
            },
        )
        env = {
            **os.environ,
            **template.env,
            "TOKENPLANE_REPLICA": rep.name,
            "TOKENPLANE_DEPLOYMENT": spec.deployment,
            "CUDA_VISIBLE_DEVICES": ",".join(map(str, record.gpus)),
        }
        log_path = self.log_path(rep.name)
        if log_path.exists() and log_path.stat().st_size > MAX_LOG_BYTES:
            os.replace(log_path, log_path.with_suffix(".log.1"))
        with open(log_path, "ab") as f:
            f.write(f"--- tokenplane-agent: starting {rep.name}: {argv}\n".encode())
        rep.process = _Process.spawn(argv, env, log_path)
        record.pid, record.create_time = rep.process.pid, rep.process.create_time
        self._state.save()

    def _health_url(self, rep: _Replica) -> str:
        path = self._template(rep).health_path
        return f"http://{_probe_host(self._config.bind_host)}:{rep.record.port}{path}"

    async def _supervise(self, rep: _Replica) -> None:
        """Keeps one replica running until it is undeployed (which cancels this task)."""
        config = self._config
        while True:
            try:
                if rep.process is None or not rep.process.alive():
                    self._start(rep)
                    self._set(rep, "Starting", rep.message)
                outcome = await self._until_ready(rep)
                if outcome == "ready":
                    started = self._clock()
                    self._set(rep, "Running")
                    outcome = await self._while_running(rep)
                    if self._clock() - started >= STABLE_RUN_S:
                        rep.restarts = 0
            except LookupError as e:  # no template, no free GPU: retrying will not help soon
                outcome = str(e)
                rep.restarts = max(rep.restarts, config.crash_loop_restarts)
            except (OSError, ValueError) as e:  # e.g. the command is not installed
                outcome = str(e)
            if rep.process is not None and rep.process.alive():
                await rep.process.terminate(config.grace_period_seconds)
            reason = rep.process.exit_reason() if outcome == "exited" and rep.process else outcome
            rep.process = None
            rep.restarts += 1
            delay = min(
                config.max_restart_backoff_seconds,
                config.restart_backoff_seconds * 2 ** (rep.restarts - 1),
            )
            crash_loop = rep.restarts > config.crash_loop_restarts
            self._set(
                rep,
                "Failed" if crash_loop else "Starting",
                f"{reason}; restart {rep.restarts} in {delay:.1f}s",
            )
            await asyncio.sleep(delay)

    async def _until_ready(self, rep: _Replica) -> str:
        assert rep.process is not None
        url = self._health_url(rep)
        deadline = self._clock() + self._config.start_timeout_seconds
        while self._clock() < deadline:
            if not rep.process.alive():
                return "exited"
            if await asyncio.to_thread(healthy, url):
                return "ready"
            await asyncio.sleep(STARTUP_POLL_S)
        return f"not ready within {self._config.start_timeout_seconds:.0f}s"

    async def _while_running(self, rep: _Replica) -> str:
        assert rep.process is not None
        url = self._health_url(rep)
        failures = 0
        next_check = self._clock() + self._config.health_interval_seconds
        while True:
            await asyncio.sleep(LIVENESS_POLL_S)
            if not rep.process.alive():
                return "exited"
            if self._clock() < next_check:
                continue
            next_check = self._clock() + self._config.health_interval_seconds
            if await asyncio.to_thread(healthy, url):
                failures = 0
            else:
                failures += 1
                if failures >= self._config.health_failures:
                    return f"failed {failures} health checks"

    async def _stop(self, rep: _Replica) -> None:
        self._set(rep, "Terminating")
        if rep.process is not None:
            await rep.process.terminate(self._config.grace_period_seconds)
        rep.process = None
        self._set(rep, "Stopped")
        del self._replicas[rep.name]
        self._state.replicas.pop(rep.name, None)
        self._state.save()

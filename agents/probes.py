"""RTT probes: how long a TCP handshake to each landmark takes, a few times a minute.

The server names the landmarks (its regions with a `probe` address, sent in
`Settings.probes`); the node's config may add its own or override one by name
(`agent.probes` in node.yaml). Each round probes every target once, in a
random order, and rounds are `interval` apart give or take 10%, the first one
at a random point of the first interval: a fleet that starts together does not
probe together. The name is resolved before the clock starts, so DNS never
counts as network RTT. A connect that fails or times out gives no sample.

Samples wait in a small buffer (the last few per target) until the next
heartbeat carries them; the server keeps the least of recent samples, since
queueing only ever adds delay. Hollow nodes do not probe: they report the
figures their fleet file declares, named `simulated`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from agents.config import ProbeConfig
from agents.runtime import Runtime
from controlplane.regions import split_address
from tokenplane.v1 import agent_pb2

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 20.0
DEFAULT_TIMEOUT_S = 2.0
MIN_INTERVAL_S = 1.0
SAMPLES_BUFFERED = 5  # per target, while no heartbeat goes out (e.g. the server is down)
TCP_CONNECT = "tcp-connect"
SIMULATED = "simulated"


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    host: str
    port: int

    @classmethod
    def parse(cls, name: str, address: str) -> Target:
        host, port = split_address(address)
        return cls(name, host, port)


async def connect_ms(host: str, port: int, timeout_s: float) -> float:
    """Milliseconds a TCP handshake to host:port takes (name resolution not included)."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout_s)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setblocking(False)
        started = time.perf_counter()
        await asyncio.wait_for(loop.sock_connect(sock, address), timeout_s)
        return (time.perf_counter() - started) * 1000


class SampleBuffer:
    """The samples not yet sent, the last few per target."""

    def __init__(self) -> None:
        self._pending: dict[str, deque[agent_pb2.RttSample]] = {}

    def add(self, sample: agent_pb2.RttSample) -> None:
        window = self._pending.get(sample.target)
        if window is None:
            window = self._pending[sample.target] = deque(maxlen=SAMPLES_BUFFERED)
        window.append(sample)

    def drain(self) -> list[agent_pb2.RttSample]:
        samples = [s for window in self._pending.values() for s in window]
        self._pending.clear()
        return samples


class Prober:
    """Probes the server's targets and the node's own; `drain` hands over new samples."""

    @classmethod
    def from_config(cls, config: ProbeConfig) -> Prober:
        return cls(
            [Target.parse(t.name, t.address) for t in config.targets],
            interval_s=config.interval_seconds,
            timeout_s=config.timeout_seconds,
        )

    def __init__(
        self,
        own: Sequence[Target] = (),
        *,
        interval_s: float | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        rng: random.Random | None = None,
    ) -> None:
        self._own = {t.name: t for t in own}
        self._server: dict[str, Target] = {}
        self._interval_override_s = interval_s
        self._server_interval_s = DEFAULT_INTERVAL_S
        self._timeout_s = timeout_s
        self._rng = rng or random.Random()
        self._buffer = SampleBuffer()

    @property
    def interval_s(self) -> float:
        return max(MIN_INTERVAL_S, self._interval_override_s or self._server_interval_s)

    @property
    def targets(self) -> dict[str, Target]:
        """The server's targets with the node's own over them (same name: the node's wins)."""
        return {**self._server, **self._own}

    def configure(self, settings: agent_pb2.ProbeSettings) -> None:
        """The server's targets replace the previous ones; a bad address is logged and skipped."""
        targets: dict[str, Target] = {}
        for t in settings.targets:
            try:
                targets[t.name] = Target.parse(t.name, t.address)
            except ValueError as e:
                log.warning("probe target %s from the server: %s; skipped", t.name, e)
        self._server = targets
        if settings.interval_ms:
            self._server_interval_s = settings.interval_ms / 1000

    def on_settings(self, settings: agent_pb2.Settings) -> None:
        """A Settings without `probes` changes something else: the targets stay."""
        if settings.HasField("probes"):
            self.configure(settings.probes)

    def drain(self) -> list[agent_pb2.RttSample]:
        return self._buffer.drain()

    async def probe(self, target: Target) -> agent_pb2.RttSample | None:
        """One sample, kept for the next heartbeat; None if the connect failed."""
        try:
            rtt_ms = await connect_ms(target.host, target.port, self._timeout_s)
        except (OSError, TimeoutError) as e:
            log.debug("probe %s (%s:%d): %s", target.name, target.host, target.port, e)
            return None
        sample = agent_pb2.RttSample(target=target.name, rtt_ms=rtt_ms, method=TCP_CONNECT)
        self._buffer.add(sample)
        return sample

    async def round(self) -> list[agent_pb2.RttSample]:
        """Every target once, in a random order."""
        targets = list(self.targets.values())
        self._rng.shuffle(targets)
        samples = [await self.probe(t) for t in targets]
        return [s for s in samples if s is not None]

    async def run(self) -> None:
        """Rounds until cancelled; new targets from the server join the next round."""
        await asyncio.sleep(self._rng.uniform(0, self.interval_s))
        while True:
            started_s = time.monotonic()
            await self.round()
            elapsed_s = time.monotonic() - started_s
            await asyncio.sleep(max(0.0, self.interval_s * self._rng.uniform(0.9, 1.1) - elapsed_s))


class SimulatedRtts:
    """A hollow node's declared RTTs, handed over as if probed every `interval_s`."""

    def __init__(
        self,
        rtt_ms: Mapping[str, float],
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rtt_ms = dict(rtt_ms)
        self._interval_s = interval_s
        self._rng = rng or random.Random()
        self._clock = clock
        self._due_s = clock()  # the first heartbeat carries them: the map fills at once

    def drain(self) -> list[agent_pb2.RttSample]:
        now = self._clock()
        if not self._rtt_ms or now < self._due_s:
            return []
        self._due_s = now + self._interval_s * self._rng.uniform(0.9, 1.1)
        return [
            agent_pb2.RttSample(target=target, rtt_ms=rtt_ms, method=SIMULATED)
            for target, rtt_ms in self._rtt_ms.items()
        ]


class SampleSource(Protocol):
    """Anything with new samples to hand over (a Prober, SimulatedRtts)."""

    def drain(self) -> list[agent_pb2.RttSample]: ...


def with_rtt_samples(
    telemetry: Callable[[Runtime], agent_pb2.Heartbeat], source: SampleSource
) -> Callable[[Runtime], agent_pb2.Heartbeat]:
    """The heartbeat from `telemetry`, carrying the samples taken since the last one."""

    def heartbeat(runtime: Runtime) -> agent_pb2.Heartbeat:
        beat = telemetry(runtime)
        samples = source.drain()
        if samples:
            beat.rtt_samples.extend(samples)
        return beat

    return heartbeat

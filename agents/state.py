"""What this agent runs, kept in a small local file so that a restart of the agent adopts it.

The replicas outlive the agent (each runs in its own session), so after an
agent restart, upgrade or crash the file says which processes are ours and
which command generation was applied last. Without the generation, the
server's replay of recent commands would be applied a second time; without the
processes, every replica would be started twice.

Writes are atomic (write a temporary file, fsync, rename), so the file is
always either the old or the new state. A file that cannot be read stops the
agent with an error naming it: guessing would risk running everything twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from tokenplane.v1 import resources_pb2

FORMAT_VERSION = 1


class StateError(Exception):
    """The state file exists but cannot be used."""


@dataclass
class ReplicaRecord:
    """One replica this node was told to run, and the process that runs it (if any)."""

    replica: resources_pb2.Replica
    generation: int
    pid: int = 0
    create_time: float = 0.0  # the process's start time, so a reused pid is not mistaken for it
    port: int = 0
    gpus: list[int] = field(default_factory=list)  # indices, as in CUDA_VISIBLE_DEVICES
    stopping: bool = False  # undeployed: a restarted agent finishes stopping it

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["replica"] = json_format.MessageToDict(self.replica)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplicaRecord:
        replica = json_format.ParseDict(data["replica"], resources_pb2.Replica())
        return cls(
            replica=replica,
            generation=int(data["generation"]),
            pid=int(data.get("pid", 0)),
            create_time=float(data.get("create_time", 0.0)),
            port=int(data.get("port", 0)),
            gpus=[int(i) for i in data.get("gpus", [])],
            stopping=bool(data.get("stopping", False)),
        )


@dataclass
class LocalState:
    path: Path
    applied_generation: int = 0
    replicas: dict[str, ReplicaRecord] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> LocalState:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text())
            if data.get("version") != FORMAT_VERSION:
                raise StateError(f"version {data.get('version')!r}, expected {FORMAT_VERSION}")
            return cls(
                path,
                applied_generation=int(data["applied_generation"]),
                replicas={name: ReplicaRecord.from_json(r) for name, r in data["replicas"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError, json_format.ParseError) as e:
            raise StateError(
                f"{path}: cannot read the agent's state ({e}); move it aside only once the "
                "replicas it lists are stopped, or they will be started twice"
            ) from None

    def save(self) -> None:
        data = {
            "version": FORMAT_VERSION,
            "applied_generation": self.applied_generation,
            "replicas": {name: r.to_json() for name, r in sorted(self.replicas.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def set_applied_generation(self, generation: int) -> None:
        self.applied_generation = generation
        self.save()

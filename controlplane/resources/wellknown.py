"""Well-known names: replica phases, and every label and annotation key tokenplane sets.

One definition for each, used by the pydantic models, the proto's string fields
(`ReplicaState.phase`, `ReplicaStatus.phase` carry these values), the reconciler,
tpctl and the local fleet, so a renamed phase or key cannot drift between them.
"""

from __future__ import annotations

from enum import StrEnum


class ReplicaPhase(StrEnum):
    """Where a replica is in its life, as the control plane records it.

    `Stopped` is what an agent reports for a replica it no longer runs; the
    control plane then deletes the object (or marks it `Failed` if it was
    wanted), so a stored replica is never `Stopped` for long.
    """

    PENDING = "Pending"
    SCHEDULED = "Scheduled"  # bound to a node, its deploy command sent
    STARTING = "Starting"
    RUNNING = "Running"
    FAILED = "Failed"
    TERMINATING = "Terminating"  # stop sent; deleted when its agent says Stopped
    STOPPED = "Stopped"


ACTIVE_PHASES: frozenset[ReplicaPhase] = frozenset(
    {ReplicaPhase.SCHEDULED, ReplicaPhase.STARTING, ReplicaPhase.RUNNING}
)
"""Phases that hold a slot of their deployment."""

NOT_YET_IN_TELEMETRY: frozenset[ReplicaPhase] = frozenset(
    {ReplicaPhase.SCHEDULED, ReplicaPhase.STARTING}
)
"""Bound but not drawing power yet: the heartbeat does not show them."""

SERVING = ReplicaPhase.RUNNING
"""The phase in which a replica serves tokens (and carries routes)."""

# -- labels -----------------------------------------------------------------------------

DEPLOYMENT_LABEL = "tokenplane.io/deployment"
"""On each Replica: the ModelDeployment that owns it."""

SAMPLE_LABEL = "tokenplane.io/sample"
"""On the sample deployments `tpctl up` applies."""

LEADER_LABEL = "tokenplane.io/leader"
"""On the control-plane pod that holds the leader lease (Kubernetes)."""

NODE_LABEL = "tokenplane.io/node"
"""On the Kubernetes objects a node agent creates for a replica: the node it runs on."""

REPLICA_LABEL = "tokenplane.io/replica"
"""On the Kubernetes objects a node agent creates for a replica: the replica."""

# -- annotations ------------------------------------------------------------------------

REPLACES_ANNOTATION = "tokenplane.io/replaces"
"""On a replacement in a make-before-break move: the replica it replaces."""

TOKENS_PER_SECOND_ANNOTATION = "tokenplane.io/tokens-per-second"
"""On a ModelDeployment: one replica's declared throughput, tokens per second. The API
carries no measured throughput yet; with it, carbon per million tokens can be computed,
and without it that figure is shown as unknown."""

REPLICA_SPEC_ANNOTATION = "tokenplane.io/replica-spec"
"""On a Kubernetes Deployment a node agent made: the replica it runs, for adoption."""

GENERATION_ANNOTATION = "tokenplane.io/generation"
"""On a Kubernetes Deployment a node agent made: the command generation that made it."""

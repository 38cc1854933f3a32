"""The resource types a user can name, kubectl-style: `nodes`, `no`, `deploy`, `node/NAME`.

Kept free of imports so that argument parsing and shell completion cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import click


@dataclass(frozen=True, slots=True)
class Kind:
    wire: str  # the kind on the Fleet API: "Node", "ModelDeployment", "Replica"
    singular: str  # what `-o name` prints: "node/NAME"
    plural: str
    aliases: tuple[str, ...]

    @property
    def list_kind(self) -> str:
        return f"{self.wire}List"


NODE = Kind("Node", "node", "nodes", ("no",))
DEPLOYMENT = Kind(
    "ModelDeployment",
    "modeldeployment",
    "modeldeployments",
    ("deployment", "deployments", "deploy", "md"),
)
REPLICA = Kind("Replica", "replica", "replicas", ("rep",))
CURTAILMENT = Kind("Curtailment", "curtailment", "curtailments", ("curt",))
KINDS = (NODE, DEPLOYMENT, REPLICA, CURTAILMENT)

_BY_NAME = {name: kind for kind in KINDS for name in (kind.singular, kind.plural, *kind.aliases)}
BY_WIRE = {kind.wire: kind for kind in KINDS}


def resolve(text: str, allowed: tuple[Kind, ...] = KINDS) -> Kind:
    """The kind a user typed; a usage error (exit 2) listing what is known otherwise."""
    kind = _BY_NAME.get(text.lower())
    if kind is None or kind not in allowed:
        known = ", ".join(f"{k.plural} ({', '.join(k.aliases)})" for k in allowed)
        raise click.BadParameter(
            f'the server has no resource type "{text}"; known types: {known}', param_hint="TYPE"
        )
    return kind


def split_args(args: tuple[str, ...], allowed: tuple[Kind, ...] = KINDS) -> list[tuple[Kind, str]]:
    """`TYPE NAME...` or `TYPE/NAME...` into (kind, name) pairs; name "" means all of the kind."""
    if not args:
        raise click.UsageError("give a resource type, e.g. nodes, deployments or replicas")
    if "/" in args[0]:
        pairs = []
        for arg in args:
            typed, sep, name = arg.partition("/")
            if not sep or not name:
                raise click.UsageError(
                    f"{arg!r}: give every argument as TYPE/NAME, or TYPE NAME..."
                )
            pairs.append((resolve(typed, allowed), name))
        return pairs
    kind = resolve(args[0], allowed)
    return [(kind, name) for name in args[1:]] or [(kind, "")]


def complete_type(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [name for name in _BY_NAME if name.startswith(incomplete)]

"""Join tokens and node credentials: `tpctl create join-token`, `get join-tokens`,
`delete join-token`, `approve node` and `revoke node` (the Identity API; admin role)."""

from __future__ import annotations

import json
from typing import Any

import click

from controlplane.cli.params import DURATION, GLOBAL_OPTIONS_EPILOG, complete_node, global_options

JOIN_TOKEN_ALIASES = ("join-tokens", "join-token", "jointokens", "jointoken", "jt")
DEFAULT_JOIN_TOKEN_TTL = "24h"


def _labels(pairs: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: give KEY=VALUE", param_hint="'--labels'")
        labels[key] = value
    return labels


def _identity(ctx: click.Context) -> Any:
    from controlplane.cli.client import connect

    return connect(ctx).identity


@click.group()
def create() -> None:
    """Create a join token.

    \b
    Examples:
      tpctl create join-token --ttl 2h --usages 10
    """


@create.command("join-token", epilog=GLOBAL_OPTIONS_EPILOG)
@click.option(
    "--ttl",
    type=DURATION,
    default=DEFAULT_JOIN_TOKEN_TTL,
    show_default=True,
    help="How long the token joins nodes; 0: it never expires.",
)
@click.option("--usages", type=click.IntRange(min=0), default=0, help="Joins it allows; 0: any.")
@click.option(
    "--name-pattern",
    default="",
    metavar="REGEX",
    help="Node names it may register (a full match), e.g. 'edge-lisbon-.*'.",
)
@click.option(
    "--labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="Labels set on every node it registers (repeatable).",
)
@click.option("--description", default="", help="What the token is for.")
@global_options()
@click.pass_context
def join_token(
    ctx: click.Context,
    ttl: float,
    usages: int,
    name_pattern: str,
    labels: tuple[str, ...],
    description: str,
) -> None:
    """Mint a join token, as kubeadm does: printed once, kept by the server only as a hash.

    A join token registers new node names only; a registered node re-joins with
    its own credential, or after `tpctl approve node NAME`.

    \b
    Examples:
      tpctl create join-token --ttl 2h --usages 10 --name-pattern 'edge-lisbon-.*'
      tpctl create join-token --labels site=lisbon-2 --description "Lisbon rack 2"
    """
    from tokenplane.v1 import identity_pb2

    request = identity_pb2.CreateJoinTokenRequest(
        ttl_seconds=round(ttl),
        usages=usages,
        name_pattern=name_pattern,
        labels=_labels(labels),
        description=description,
    )
    response = _identity(ctx).call("CreateJoinToken", request)
    token = response.join_token
    expires = token.expiration_timestamp or "never"
    click.echo(
        f"join token {token.id}: expires {expires}; shown only now, the server keeps its hash",
        err=True,
    )
    click.echo(response.token)


def join_token_rows(tokens: list[Any]) -> list[dict[str, Any]]:
    """Join tokens as plain data, never with a secret (the server has none to give)."""
    return [
        {
            "id": t.id,
            "expires": t.expiration_timestamp or "never",
            "usages": f"{t.used}/{t.usages}" if t.usages else f"{t.used}/-",
            "namePattern": t.name_pattern or "*",
            "labels": dict(t.labels),
            "description": t.description,
            "createdBy": t.created_by,
            "created": t.creation_timestamp,
        }
        for t in tokens
    ]


def show_join_tokens(ctx: click.Context, fmt: str) -> None:
    """`tpctl get join-tokens`: a table, or -o json|yaml."""
    from tokenplane.v1 import identity_pb2

    response = _identity(ctx).call("ListJoinTokens", identity_pb2.ListJoinTokensRequest())
    rows = join_token_rows(list(response.join_tokens))
    if fmt == "json":
        click.echo(json.dumps({"items": rows}, indent=2))
        return
    if fmt == "yaml":
        import yaml

        click.echo(yaml.safe_dump({"items": rows}, sort_keys=False), nl=False)
        return
    if fmt not in ("table", "wide"):
        raise click.UsageError(f"join tokens print as table, wide, json or yaml, not {fmt}")
    header = ["ID", "EXPIRES", "USED", "NAME-PATTERN", "LABELS", "DESCRIPTION"]
    lines = [
        [
            r["id"],
            r["expires"],
            r["usages"],
            r["namePattern"],
            ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items())) or "<none>",
            r["description"],
        ]
        for r in rows
    ]
    if not lines:
        click.echo("No join tokens found.", err=True)
        return
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]
    for line in [header, *lines]:
        click.echo("   ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def delete_join_tokens(ctx: click.Context, ids: list[str]) -> None:
    """`tpctl delete join-token ID...`: the token joins no more nodes."""
    from tokenplane.v1 import identity_pb2

    if not ids:
        raise click.UsageError("give the ID of each join token to delete (tpctl get join-tokens)")
    client = _identity(ctx)
    for token_id in ids:
        client.call("DeleteJoinToken", identity_pb2.DeleteJoinTokenRequest(id=token_id))
        click.echo(f"jointoken/{token_id} deleted")


@click.group()
def approve() -> None:
    """Allow a registered node to join again.

    \b
    Examples:
      tpctl approve node edge-7
    """


@approve.command("node", epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("names", nargs=-1, required=True, metavar="NODE...", shell_complete=complete_node)
@click.option(
    "--ttl", type=DURATION, default="1h", show_default=True, help="How long the approval waits."
)
@global_options()
@click.pass_context
def approve_node(ctx: click.Context, names: tuple[str, ...], ttl: float) -> None:
    """Let each node re-join once, with a join token, though it lost its own credential
    (a new disk, a revoked token). Its old tokens stop working when it does.

    \b
    Examples:
      tpctl approve node edge-7
      tpctl approve node edge-7 --ttl 10m
    """
    from tokenplane.v1 import identity_pb2

    client = _identity(ctx)
    for name in names:
        request = identity_pb2.ApproveNodeRequest(name=name, ttl_seconds=round(ttl))
        response = client.call("ApproveNode", request)
        click.echo(f"node/{name} approved to re-join until {response.expiration_timestamp}")


@click.group()
def revoke() -> None:
    """Invalidate a node's credentials.

    \b
    Examples:
      tpctl revoke node edge-7
    """


@revoke.command("node", epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("names", nargs=-1, required=True, metavar="NODE...", shell_complete=complete_node)
@global_options()
@click.pass_context
def revoke_node(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Invalidate every token each node holds, at once, and close its stream.

    The node comes back only after `tpctl approve node NAME` (and a join token).

    \b
    Examples:
      tpctl revoke node edge-7
    """
    from tokenplane.v1 import identity_pb2

    client = _identity(ctx)
    for name in names:
        client.call("RevokeNode", identity_pb2.RevokeNodeRequest(name=name))
        click.echo(f"node/{name} revoked")


__all__ = ["approve", "create", "delete_join_tokens", "revoke", "show_join_tokens"]

"""`tpctl curtail`: lower a site's power budget for a while, as a grid operator may ask."""

from __future__ import annotations

import re
import secrets

import click

from controlplane.cli.params import DURATION, GLOBAL_OPTIONS_EPILOG, complete_node, global_options

_POWER = re.compile(r"(\d+(?:\.\d+)?)\s*(W|kW|MW)", re.IGNORECASE)
_KW_PER = {"w": 0.001, "kw": 1.0, "mw": 1000.0}


class Power(click.ParamType):
    """A power with its unit: `1.8MW`, `900kW`, `500000W`."""

    name = "power"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        match = _POWER.fullmatch(str(value).strip())
        if match is None:
            self.fail(f"{value!r} is not a power such as 1.8MW or 900kW", param, ctx)
        return float(match[1]) * _KW_PER[match[2].lower()]


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("site", metavar="SITE", shell_complete=complete_node)
@click.option(
    "--to",
    "budget_kw",
    type=Power(),
    required=True,
    help="The site's budget meanwhile, e.g. 1.8MW.",
)
@click.option("--for", "duration_s", type=DURATION, required=True, help="How long, e.g. 4h or 90m.")
@click.option(
    "--reason", default="", help="Why, for the record (e.g. the grid operator's event id)."
)
@click.option("--name", default="", help="The Curtailment's name [default: SITE-<random>].")
@global_options()
@click.pass_context
def curtail(
    ctx: click.Context, site: str, budget_kw: float, duration_s: float, reason: str, name: str
) -> None:
    """Lower a site's power budget for a while; load moves elsewhere, and back after.

    Creates a Curtailment: the control plane holds the site to the lower budget,
    moves replicas away make-before-break to sites that keep users within the
    latency SLO and their own budgets, lets load return when the event ends, and
    records the energy shed. Under `tpctl up` the duration is simulated time.

    \b
    Examples:
      tpctl curtail factory-madrid --to 1.8MW --for 4h --reason "REE event 4411"
      tpctl get curtailments
      tpctl describe curtailment factory-madrid-3f9a2c
    """
    from controlplane.cli.client import connect
    from controlplane.resources import Curtailment, CurtailmentSpec, ObjectMeta

    if duration_s <= 0:
        raise click.BadParameter("must be longer than 0s", param_hint="--for")
    client = connect(ctx)
    client.get("Node", site)  # a clear NotFound for a mistyped site, before anything is made
    event = Curtailment(
        metadata=ObjectMeta(name=name or f"{site}-{secrets.token_hex(3)}"),
        spec=CurtailmentSpec(
            node_name=site, budget_kw=budget_kw, duration_seconds=duration_s, reason=reason
        ),
    )
    stored, result = client.apply(event)
    click.echo(
        f"curtailment/{stored.name} {result}: {site} held to {budget_kw:g} kW "
        f"for {duration_s / 3600:g}h"
    )

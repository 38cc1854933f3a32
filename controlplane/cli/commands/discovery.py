"""`tpctl explain` and `tpctl api-resources`: what the API has, without reading the code."""

from __future__ import annotations

import click

from controlplane.cli.params import GLOBAL_OPTIONS_EPILOG, global_options


@click.command(epilog=GLOBAL_OPTIONS_EPILOG)
@click.argument("target", metavar="TYPE[.FIELD...]")
@click.option("--recursive", is_flag=True, help="Every field below, as a tree, without docs.")
@global_options()
def explain(target: str, recursive: bool) -> None:
    """Describe a resource type or one of its fields: type, bounds, default, meaning.

    Read from the schema tpctl and the server validate manifests with, so it
    needs no server.

    \b
    Examples:
      tpctl explain deployment
      tpctl explain deployment.spec.energyPolicy
      tpctl explain node.spec --recursive
    """
    from controlplane.cli import explain as explaining
    from controlplane.cli.kinds import resolve

    kind_text, *path = target.split(".")
    click.echo(explaining.render(resolve(kind_text), path, recursive=recursive), nl=False)


@click.command("api-resources", epilog=GLOBAL_OPTIONS_EPILOG)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "name"]),
    default="table",
    show_default=True,
    help="table, or name: one resource type a line.",
)
@click.option("--no-headers", is_flag=True, help="No header line.")
@global_options()
def api_resources(output: str, no_headers: bool) -> None:
    """List the resource types of the Fleet API, with their short names.

    Routes (a deployment's demand-to-replica assignments) and regions (what
    a demand point may name) are read-only views, listed with tpctl get.

    \b
    Examples:
      tpctl api-resources
      tpctl api-resources -o name
    """
    from controlplane.cli.kinds import KINDS
    from controlplane.cli.output import print_table
    from controlplane.resources import API_VERSION

    if output == "name":
        for name in [kind.plural for kind in KINDS] + ["routes", "regions"]:
            click.echo(name)
        return
    print_table(
        ["NAME", "SHORTNAMES", "APIVERSION", "KIND", "VERBS"],
        [
            [
                kind.plural,
                ",".join(kind.aliases),
                API_VERSION,
                kind.wire,
                "apply,delete,get,list,watch"
                + (",cordon,drain" if kind.wire == "Node" else "")
                + (",scale" if kind.wire == "ModelDeployment" else "")
                + (",curtail" if kind.wire == "Curtailment" else ""),
            ]
            for kind in KINDS
        ]
        + [
            ["routes", "rt", API_VERSION, "Route", "list"],
            ["regions", "reg", API_VERSION, "Region", "list"],
        ],
        show_header=not no_headers,
    )

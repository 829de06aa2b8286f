"""`hai prices`, `hai contributions`: the price table and contributed hardware (admins)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from hakutaku.cli.common import client, fail, platform_errors, print_json, print_table

prices = typer.Typer(help="The price table per resource.", no_args_is_help=True)
contributions = typer.Typer(help="Hardware contributed by groups, as credit.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PRICE_COLUMNS = ("resource", "price", "currency", "unit", "description")
CONTRIBUTION_COLUMNS = (
    "id",
    "account",
    "resource",
    "hours_per_month",
    "since",
    "until",
    "description",
)


def _price_path(resource: str) -> str:
    return f"/api/prices/{quote(resource, safe=':/')}"


@prices.command("list")
def prices_list(as_json: JsonOpt = False) -> None:
    """The price table (everyone may read it)."""
    with platform_errors():
        rows = client()._request_json("GET", "/api/prices")
    print_json(rows) if as_json else print_table(rows, PRICE_COLUMNS)


@prices.command("set")
def prices_set(
    resource: Annotated[str, typer.Argument(help="e.g. gpu:a800, gpu, cpu, model:tokens")],
    price: Annotated[str, typer.Argument(help="Per unit (card-hour, core-hour, call, 1k tokens).")],
    currency: Annotated[str, typer.Option(help="ISO code.")] = "CNY",
    description: Annotated[str, typer.Option(help="What the price is for.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Set (or change) the price of a resource or a kind of resource (admin)."""
    body = {"price": price, "currency": currency, "description": description}
    with platform_errors():
        row = client()._request_json("PUT", _price_path(resource), json=body)
    if as_json:
        print_json(row)
    else:
        typer.echo(f"{row['resource']}: {row['price']} {row['currency']} per {row['unit']}")


@prices.command("remove")
def prices_remove(resource: str) -> None:
    """Remove a price; the resource falls back to its kind's price, or becomes unpriced."""
    with platform_errors():
        client()._request_json("DELETE", _price_path(resource))
    typer.echo(f"removed the price of {resource}")


@prices.command("apply")
def prices_apply(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A TOML price file.")],
    replace: Annotated[
        bool, typer.Option(help="Also remove prices the file does not list.")
    ] = False,
) -> None:
    """Set every price in a TOML file (see src/hakutaku/accounting/prices.toml) (admin)."""
    # Imported here: the database layer it brings is not needed by the other commands.
    from hakutaku.accounting.prices import parse_price_file
    from hakutaku.identity.errors import PlatformError

    try:
        specs = parse_price_file(file.read_text(), str(file))
    except PlatformError as exc:
        fail(exc.message, 2)
    c = client()
    with platform_errors():
        for spec in specs:
            body = {
                "price": str(spec.price),
                "unit": spec.unit,
                "currency": spec.currency,
                "description": spec.description,
            }
            c._request_json("PUT", _price_path(spec.resource), json=body)
        removed = 0
        if replace:
            listed = {spec.resource for spec in specs}
            for row in c._request_json("GET", "/api/prices"):
                if row["resource"] not in listed:
                    c._request_json("DELETE", _price_path(row["resource"]))
                    removed += 1
    typer.echo(f"set {len(specs)} prices" + (f", removed {removed}" if replace else ""))


@contributions.command("list")
def contributions_list(
    account: Annotated[str | None, typer.Option(help="Only this group's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Contributions (admins: all; users: their groups')."""
    params = {"account": account} if account else {}
    with platform_errors():
        rows = client()._request_json("GET", "/api/contributions", params=params)
    print_json(rows) if as_json else print_table(rows, CONTRIBUTION_COLUMNS)


@contributions.command("add")
def contributions_add(
    account: Annotated[str, typer.Argument(help="The group that contributed the hardware.")],
    resource: Annotated[str, typer.Argument(help="A job resource, e.g. gpu:a800.")],
    hours_per_month: Annotated[float, typer.Argument(help="Credit hours in each month.")],
    since: Annotated[str, typer.Option(help="First month credited, YYYY-MM.")],
    until: Annotated[str | None, typer.Option(help="Last month credited, YYYY-MM.")] = None,
    description: Annotated[str, typer.Option(help="e.g. '4 A800 cards bought in 2025'.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Record hardware a group contributed, as monthly credit hours of a resource (admin)."""
    body = {
        "account": account,
        "resource": resource,
        "hours_per_month": hours_per_month,
        "since": since,
        "until": until,
        "description": description,
    }
    with platform_errors():
        row = client()._request_json("POST", "/api/contributions", json=body)
    if as_json:
        print_json(row)
    else:
        last = row["until"] or "open-ended"
        typer.echo(
            f"contribution {row['id']}: {row['account']} gets {row['hours_per_month']} h of "
            f"{row['resource']} a month from {row['since']} ({last})"
        )


@contributions.command("remove")
def contributions_remove(contribution_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Remove a contribution by id (its credit disappears from every statement)."""
    with platform_errors():
        client()._request_json("DELETE", f"/api/contributions/{contribution_id}")
    typer.echo(f"removed contribution {contribution_id}")

"""`hai prices`, `hai contributions`: the price table and contributed hardware (admins)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hakutaku.cli.common import client, fail, platform_errors, print_json, print_table

prices = typer.Typer(help="The price table per resource.", no_args_is_help=True)
contributions = typer.Typer(help="Hardware contributed by groups, as credit.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PRICE_COLUMNS = ("resource", "price", "currency", "unit", "since", "description")
Month = str | None


def month_option(text: str) -> Any:
    return typer.Option(metavar="YYYY-MM", help=text)


CONTRIBUTION_COLUMNS = (
    "id",
    "account",
    "resource",
    "hours_per_month",
    "since",
    "until",
    "description",
)


@prices.command("list")
def prices_list(
    period: Annotated[Month, month_option("The prices of that month (default now).")] = None,
    history: Annotated[bool, typer.Option(help="Every change, removals included.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The price table (everyone may read it)."""
    with platform_errors():
        rows = client().prices.list(period=period, history=history)
    if as_json:
        print_json(rows)
    else:
        print_table([{**r, "price": r["price"] or "(removed)"} for r in rows], PRICE_COLUMNS)


@prices.command("set")
def prices_set(
    resource: Annotated[str, typer.Argument(help="e.g. gpu:a800, gpu, cpu, model:tokens")],
    price: Annotated[str, typer.Argument(help="Per unit (card-hour, core-hour, call, 1k tokens).")],
    currency: Annotated[str, typer.Option(help="ISO code.")] = "CNY",
    description: Annotated[str, typer.Option(help="What the price is for.")] = "",
    since: Annotated[Month, month_option("First month it applies to (default now).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set (or change) the price of a resource or a kind of resource from a month on (admin).

    Earlier months keep the prices they had, unless --since reaches back to them."""
    with platform_errors():
        row = client().prices.set(
            resource, price, currency=currency, description=description, since=since
        )
    if as_json:
        print_json(row)
    else:
        typer.echo(
            f"{row['resource']}: {row['price']} {row['currency']} per {row['unit']} "
            f"from {row['since']}"
        )


@prices.command("remove")
def prices_remove(
    resource: str,
    since: Annotated[Month, month_option("First month without it (default now).")] = None,
) -> None:
    """Remove a price from a month on (earlier months keep it); the resource falls back to its
    kind's price, or becomes unpriced (admin)."""
    with platform_errors():
        client().prices.remove(resource, since=since)
    typer.echo(f"removed the price of {resource}" + (f" from {since}" if since else ""))


@prices.command("apply")
def prices_apply(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A TOML price file.")],
    replace: Annotated[
        bool, typer.Option(help="Also remove prices the file does not list.")
    ] = False,
    since: Annotated[Month, month_option("First month they apply to (default now).")] = None,
) -> None:
    """Set every price in a TOML file (see src/hakutaku/accounting/prices.toml) from a month
    on (admin)."""
    # Imported here: the database layer it brings is not needed by the other commands.
    from hakutaku.accounting.prices import parse_price_file
    from hakutaku.errors import PlatformError

    try:
        specs = parse_price_file(file.read_text(), str(file))
    except PlatformError as exc:
        fail(exc.message, 2)
    c = client()
    with platform_errors():
        for spec in specs:
            c.prices.set(
                spec.resource,
                spec.price,
                unit=spec.unit,
                currency=spec.currency,
                description=spec.description,
                since=since,
            )
        removed = 0
        if replace:
            listed = {spec.resource for spec in specs}
            for row in c.prices.list(period=since):
                if row["resource"] not in listed:
                    c.prices.remove(row["resource"], since=since)
                    removed += 1
    typer.echo(f"set {len(specs)} prices" + (f", removed {removed}" if replace else ""))


@contributions.command("list")
def contributions_list(
    account: Annotated[str | None, typer.Option(help="Only this group's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Contributions (admins: all; users: their groups')."""
    with platform_errors():
        rows = client().contributions.list(account=account or None)
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
    with platform_errors():
        row = client().contributions.add(
            account, resource, hours_per_month, since=since, until=until, description=description
        )
    if as_json:
        print_json(row)
    else:
        last = row["until"] or "open-ended"
        typer.echo(
            f"contribution {row['id']}: {row['account']} gets {row['hours_per_month']} h of "
            f"{row['resource']} a month from {row['since']} ({last})"
        )


@contributions.command("end")
def contributions_end(
    contribution_id: Annotated[int, typer.Argument(metavar="ID")],
    until: Annotated[Month, month_option("Last month credited (default now).")] = None,
) -> None:
    """End a contribution when its hardware is withdrawn: the months before keep their credit
    (admin)."""
    with platform_errors():
        row = client().contributions.end(contribution_id, until=until)
    typer.echo(f"contribution {row['id']} ends after {row['until']}")


@contributions.command("remove")
def contributions_remove(contribution_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Erase a contribution recorded by mistake: its credit disappears from every statement,
    past months too (to withdraw hardware, use `end`) (admin)."""
    with platform_errors():
        client().contributions.remove(contribution_id)
    typer.echo(f"removed contribution {contribution_id}")

"""`hai usage`: model-call usage (`--daily`: per day); `hai usage monthly`, `hai usage
statement` and `hai usage ledger`: billing; `hai usage deployments`: calls and cost per
deployment."""

from __future__ import annotations

from typing import Annotated

import typer

from hakutaku.cli.common import client, money, platform_errors, print_json, print_table

usage = typer.Typer(
    help="Usage: model calls (no subcommand), monthly statements, the ledger.",
    invoke_without_command=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PeriodOpt = Annotated[str | None, typer.Option(help="Month, YYYY-MM (UTC); default this month.")]
SUMMARY_COLUMNS = (
    "user",
    "model",
    "method",
    "calls",
    "errors",
    "prompt_tokens",
    "completion_tokens",
)
DAILY_COLUMNS = ("day", "model", "calls", "errors", "prompt_tokens", "completion_tokens")
MONTHLY_COLUMNS = ("period", "source", "resource", "quantity", "unit")
LINE_COLUMNS = (
    "account",
    "resource",
    "quantity",
    "unit",
    "credit",
    "billable",
    "unit_price",
    "currency",
    "charge",
)
LEDGER_COLUMNS = ("ts", "user", "account", "source", "ref", "resource", "quantity", "unit")
DEPLOYMENT_COLUMNS = (
    "name",
    "owner",
    "calls",
    "cost",
    "currency",
    "cost_per_1k_calls",
    "resources",
)


@usage.callback()
def summary(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="Whose usage (admins).")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    daily: Annotated[
        bool, typer.Option("--daily", help="Per UTC day and model instead of per method.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="From (YYYY-MM-DD or an ISO time, UTC); --daily: default 30 days ago."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Until (excluded; YYYY-MM-DD or an ISO time).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Model-call usage: calls, errors and tokens per user, model and method (--daily: per
    day and model)."""
    if ctx.invoked_subcommand is not None:
        return
    with platform_errors():
        if daily:
            rows = client().usage.daily(
                since=since, until=until, user=user or None, model=model or None
            )
        else:
            rows = client().usage.summary(
                user=user or None, model=model or None, since=since, until=until
            )
    columns = DAILY_COLUMNS if daily else SUMMARY_COLUMNS
    print_json(rows) if as_json else print_table(rows, columns)


@usage.command("monthly")
def usage_monthly(
    since: Annotated[
        str | None, typer.Option(help="First month, YYYY-MM; default 11 months ago.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last month, YYYY-MM (included); default this one.")
    ] = None,
    user: Annotated[str | None, typer.Option(help="A user's (admins).")] = None,
    account: Annotated[str | None, typer.Option(help="A group's.")] = None,
    source: Annotated[str | None, typer.Option(help="job (card-/CPU-hours) or model")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The ledger per month and resource: card- and CPU-hours, model calls and tokens."""
    with platform_errors():
        rows = client().usage.monthly(
            since=since, until=until, user=user, account=account, source=source
        )
    print_json(rows) if as_json else print_table(rows, MONTHLY_COLUMNS)


@usage.command("statement")
def usage_statement(
    period: PeriodOpt = None,
    user: Annotated[
        str | None, typer.Option(help="A user's (default: yours; admins: everyone's).")
    ] = None,
    account: Annotated[str | None, typer.Option(help="A group's, with its credit.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A monthly statement: resources used, credit, unit prices, charges and totals."""
    with platform_errors():
        result = client().usage.statement(period=period, user=user, account=account)
    if as_json:
        print_json(result)
        return
    whose = " ".join(
        part
        for part in (
            f"user {result['user']}" if result["user"] else "",
            f"account {result['account']}" if result["account"] else "",
        )
        if part
    )
    typer.echo(f"Statement for {result['period']}, {whose or 'all users and accounts'}")
    print_table(result["lines"], LINE_COLUMNS)
    for credit in result["credits"]:
        typer.echo(
            f"credit {credit['account']} {credit['resource']}: "
            f"{credit['used']} of {credit['available']} h used"
        )
    if not result["credit_applied"]:
        typer.echo("(a user's statement shows charges before their groups' credit)")
    if result["unpriced"]:
        typer.echo(f"unpriced (charged 0): {', '.join(result['unpriced'])}")
    totals = ", ".join(f"{amount} {currency}" for currency, amount in result["totals"].items())
    typer.echo(f"total: {totals or '0'}")


@usage.command("ledger")
def usage_ledger(
    period: PeriodOpt = None,
    user: Annotated[str | None, typer.Option()] = None,
    account: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option(help="job, model or workflow")] = None,
    limit: Annotated[int, typer.Option()] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """The raw ledger rows behind a statement."""
    with platform_errors():
        rows = client().usage.ledger(
            period=period, user=user, account=account, source=source, limit=limit
        )
    print_json(rows) if as_json else print_table(rows, LEDGER_COLUMNS)


@usage.command("deployments")
def usage_deployments(
    period: Annotated[
        str | None, typer.Option(help="A month, YYYY-MM (UTC); default: all time.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per deployment: calls served, its replicas' CPU-/card-hours and cost, cost per 1 000
    calls (yours; admins: all). A replica counts once its job has ended."""
    with platform_errors():
        rows = client().usage.deployments(period=period)
    if as_json:
        print_json(rows)
        return
    shown = [
        {
            **row,
            "cost": money(row["cost"]),
            "cost_per_1k_calls": money(row["cost_per_1k_calls"]),  # None: no call yet
            "resources": _resources(row["resources"]),
        }
        for row in rows
    ]
    print_table(shown, DEPLOYMENT_COLUMNS)


def _resources(quantities: dict[str, float]) -> str:
    return "; ".join(f"{name} {quantity:g}" for name, quantity in quantities.items()) or "-"


@usage.command("collect")
def usage_collect() -> None:
    """Bring the ledger up to date with finished jobs and model calls now (admin)."""
    with platform_errors():
        counts = client().usage.collect()
    typer.echo(
        f"accounted {counts['jobs']} jobs ({counts['job_entries']} ledger rows), "
        f"{counts['model_entries']} model-call rows updated"
    )

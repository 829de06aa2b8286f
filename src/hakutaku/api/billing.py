"""`/api/prices`, `/api/contributions`, `/api/usage/statements` and `/api/usage/ledger`: billing.

Everyone may read prices; admins set them and record contributions. A user reads their own
statements and ledger rows and those of the groups (accounts) they belong to; admins read all.
Quantities and money travel as decimal strings, so no client sees a float's rounding.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.accounting import contributions as contrib
from hakutaku.accounting import prices as price_table
from hakutaku.accounting.access import readable_scope
from hakutaku.accounting.ledger import collect
from hakutaku.accounting.periods import check_period, current_period
from hakutaku.accounting.resources import to_decimal
from hakutaku.accounting.statements import statement
from hakutaku.api.deps import admin, caller, db_session
from hakutaku.db.models import LedgerEntry, User
from hakutaku.errors import Forbidden
from hakutaku.identity.auth import Principal
from hakutaku.identity.service import get_user

router = APIRouter(tags=["billing"])


# ---------------------------------------------------------------------------------- schemas


MONTH = "YYYY-MM"

# Kept as floats in the database; read back as the decimal they were written from (6.0 -> 6).
StoredDecimal = Annotated[Decimal, BeforeValidator(to_decimal)]


class FromAttributes(BaseModel):
    """Out-models read straight from ORM rows and dataclasses: `Model.model_validate(obj)`."""

    model_config = ConfigDict(from_attributes=True)


class PriceIn(BaseModel):
    price: Decimal = Field(ge=0, description="Per unit, in `currency`.")
    unit: str | None = Field(None, description="hour | call | 1k-tokens; follows the resource.")
    currency: str = "CNY"
    description: str = ""
    since: str | None = Field(
        None,
        description=f"First month ({MONTH}) the price applies to; default this month. Earlier "
        "months keep their prices unless `since` reaches back to them.",
    )


class PriceOut(FromAttributes):
    resource: str
    since: str = Field(description="First month the price applies to (0001-01: all usage).")
    unit: str
    price: StoredDecimal | None = Field(description="None: the price was removed from `since` on.")
    currency: str
    description: str


class ContributionIn(BaseModel):
    account: str = Field(description="The group that contributed the hardware.")
    resource: str = Field(description="A job resource, e.g. gpu:a800 or cpu.")
    hours_per_month: float = Field(gt=0)
    since: str = Field(description="First month credited, YYYY-MM.")
    until: str | None = Field(None, description="Last month credited; open-ended if absent.")
    description: str = ""


class ContributionEnd(BaseModel):
    until: str | None = Field(None, description=f"Last month credited ({MONTH}); default now.")


class ContributionOut(FromAttributes):
    id: int
    account: str
    resource: str
    hours_per_month: StoredDecimal
    since: str
    until: str | None
    description: str


class StatementLineOut(FromAttributes):
    account: str | None
    resource: str
    unit: str
    quantity: Decimal
    credit: Decimal
    billable: Decimal
    unit_price: Decimal
    price_resource: str | None
    currency: str | None
    charge: Decimal
    priced: bool


class CreditOut(FromAttributes):
    account: str
    resource: str
    available: Decimal
    used: Decimal


class StatementOut(FromAttributes):
    period: str
    user: str | None
    account: str | None
    credit_applied: bool
    lines: list[StatementLineOut]
    credits: list[CreditOut]
    totals: dict[str, Decimal]
    unpriced: list[str]


class LedgerRowOut(BaseModel):
    id: int
    ts: datetime
    period: str
    user: str | None
    account: str | None
    source: str
    ref: str
    resource: str
    quantity: Decimal
    unit: str


class CollectOut(FromAttributes):
    jobs: int
    job_entries: int
    model_entries: int
    workflow_tasks: int = 0
    workflow_entries: int = 0


# ----------------------------------------------------------------------------------- prices


@router.get("/api/prices", response_model=list[PriceOut])
def list_prices(
    period: str | None = Query(None, description=f"The month ({MONTH}); default this month."),
    history: bool = Query(False, description="Every change of every price, removals included."),
    _who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[PriceOut]:
    """The prices in effect in a month, or (`history`) every price change."""
    rows = price_table.price_history(s) if history else price_table.list_prices(s, period)
    return [PriceOut.model_validate(row) for row in rows]


@router.get("/api/prices/{resource:path}", response_model=PriceOut)
def get_price(
    resource: str,
    period: str | None = Query(None, description=f"The month ({MONTH}); default this month."),
    _who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> PriceOut:
    return PriceOut.model_validate(price_table.get_price(s, resource, period))


@router.put("/api/prices/{resource:path}", response_model=PriceOut, dependencies=[Depends(admin)])
def put_price(
    resource: str, body: PriceIn, s: Session = Depends(db_session, scope="function")
) -> PriceOut:
    """Set a price from a month (`since`, default this month) on."""
    spec = price_table.make_spec(resource, body.price, body.unit, body.currency, body.description)
    return PriceOut.model_validate(price_table.set_price(s, spec, body.since))


@router.delete(
    "/api/prices/{resource:path}", response_model=PriceOut, dependencies=[Depends(admin)]
)
def delete_price(
    resource: str,
    since: str | None = Query(None, description=f"First month unpriced ({MONTH}); default now."),
    s: Session = Depends(db_session, scope="function"),
) -> PriceOut:
    """Remove a price from a month on (earlier months keep it); returns the price removed."""
    return PriceOut.model_validate(price_table.delete_price(s, resource, since))


# ---------------------------------------------------------------------------- contributions


@router.get("/api/contributions", response_model=list[ContributionOut])
def list_contributions(
    account: str | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[ContributionOut]:
    """All contributions (admins), or those of your own groups."""
    if who.is_admin:
        accounts = None if account is None else [account]
    elif account is not None:
        if account not in who.groups:
            raise Forbidden(f"You are not a member of {account!r}.")
        accounts = [account]
    else:
        accounts = sorted(who.groups)
    return [ContributionOut.model_validate(row) for row in contrib.list_contributions(s, accounts)]


@router.post(
    "/api/contributions",
    response_model=ContributionOut,
    status_code=201,
    dependencies=[Depends(admin)],
)
def add_contribution(
    body: ContributionIn, s: Session = Depends(db_session, scope="function")
) -> ContributionOut:
    row = contrib.add_contribution(
        s,
        body.account,
        body.resource,
        body.hours_per_month,
        body.since,
        body.until,
        body.description,
    )
    return ContributionOut.model_validate(row)


@router.post(
    "/api/contributions/{contribution_id}/end",
    response_model=ContributionOut,
    dependencies=[Depends(admin)],
)
def end_contribution(
    contribution_id: int,
    body: ContributionEnd | None = None,
    s: Session = Depends(db_session, scope="function"),
) -> ContributionOut:
    """End a contribution (hardware withdrawn): no credit after `until`, earlier months keep
    theirs."""
    until = body.until if body is not None else None
    return ContributionOut.model_validate(contrib.end_contribution(s, contribution_id, until))


@router.delete(
    "/api/contributions/{contribution_id}",
    response_model=ContributionOut,
    dependencies=[Depends(admin)],
)
def remove_contribution(
    contribution_id: int, s: Session = Depends(db_session, scope="function")
) -> ContributionOut:
    """Erase a contribution from every month, past statements included (for one recorded by
    mistake; to withdraw hardware, end it)."""
    return ContributionOut.model_validate(contrib.remove_contribution(s, contribution_id))


# ------------------------------------------------------------------------ statements, ledger


@router.get("/api/usage/statements", response_model=StatementOut)
def get_statement(
    period: str | None = Query(None, description="YYYY-MM (UTC); default this month."),
    user: str | None = None,
    account: str | None = Query(None, description="A group; credit is applied."),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> StatementOut:
    """A monthly statement: yours by default; a group's with `account`; admins: anyone's, or
    the whole platform's with neither `user` nor `account`."""
    user, account = readable_scope(who, user, account)
    period = check_period(period) if period else current_period()
    return StatementOut.model_validate(statement(s, period, user=user, account=account))


@router.get("/api/usage/ledger", response_model=list[LedgerRowOut])
def get_ledger(
    period: str | None = Query(None, description="YYYY-MM (UTC); default this month."),
    user: str | None = None,
    account: str | None = None,
    source: str | None = Query(None, description="job | model | workflow"),
    limit: int = Query(1000, ge=1, le=100_000),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[LedgerRowOut]:
    """The raw ledger rows behind a statement, oldest first."""
    user, account = readable_scope(who, user, account)
    e = LedgerEntry
    query = (
        select(e, User.name)
        .outerjoin(User, User.id == e.user_id)
        .where(e.period == (check_period(period) if period else current_period()))
        .order_by(e.ts, e.id)
        .limit(limit)
        .offset(offset)
    )
    if user is not None:
        query = query.where(e.user_id == get_user(s, user).id)
    if account is not None:
        query = query.where(e.account == account)
    if source is not None:
        query = query.where(e.source == source)
    return [
        LedgerRowOut(
            id=row.id,
            ts=row.ts,
            period=row.period,
            user=name,
            account=row.account,
            source=row.source,
            ref=row.ref,
            resource=row.resource,
            quantity=to_decimal(row.quantity),
            unit=row.unit,
        )
        for row, name in s.execute(query)
    ]


@router.post("/api/usage/collect", response_model=CollectOut, dependencies=[Depends(admin)])
def collect_now(s: Session = Depends(db_session, scope="function")) -> CollectOut:
    """Bring the ledger up to date now instead of at the collector's next pass."""
    return CollectOut.model_validate(collect(s))

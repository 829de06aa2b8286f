"""Monthly statements: a period of the ledger, summed per (account, resource), credited, priced.

How the numbers are made (and why they add up):
- quantities are the exact sums of ledger rows (each kept to a millionth of its unit);
- in a group's statement (or the platform's), that group's credit hours of a resource are
  deducted from its hours of that resource, never below zero; a user's statement shows list
  charges with no credit, because credit belongs to the group and is shared by its members;
- a line's charge is billable quantity x the unit price in effect in that month (see
  `prices`: later price changes leave it alone), computed exactly and rounded once, half up,
  to the cent; a statement's total per currency is the sum of its lines' charges.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.accounting.contributions import credit_hours
from hakutaku.accounting.periods import check_period
from hakutaku.accounting.prices import PriceTable
from hakutaku.accounting.resources import to_decimal
from hakutaku.db.models import LedgerEntry
from hakutaku.identity.service import get_user

CENT = Decimal("0.01")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class StatementLine:
    account: str | None  # the group billed; None for model calls and jobs without one
    resource: str
    unit: str
    quantity: Decimal  # used, from the ledger
    credit: Decimal  # credit hours deducted (0 in a user's statement)
    billable: Decimal  # quantity - credit
    unit_price: Decimal  # 0 when unpriced
    price_resource: str | None  # the price row that applied (the resource or its kind)
    currency: str | None
    charge: Decimal  # billable x unit_price, rounded to the cent

    @property
    def priced(self) -> bool:
        return self.price_resource is not None


@dataclass(frozen=True, slots=True)
class CreditUse:
    account: str
    resource: str
    available: Decimal  # credit hours this period
    used: Decimal  # deducted from usage; the rest lapses at the end of the month


@dataclass(frozen=True, slots=True)
class Statement:
    period: str
    user: str | None
    account: str | None
    credit_applied: bool
    lines: list[StatementLine]
    credits: list[CreditUse]
    totals: dict[str, Decimal]  # currency -> sum of the lines' charges
    unpriced: list[str]  # resources used but with no price (charged 0)


def statement(
    s: Session, period: str, *, user: str | None = None, account: str | None = None
) -> Statement:
    """The statement for a month: a user's (all accounts), a group's, both, or (neither) all."""
    check_period(period)
    usage = _usage(s, period, user, account)
    credit_applied = user is None
    credit = (
        credit_hours(s, period, None if account is None else [account]) if credit_applied else {}
    )
    prices = PriceTable.load(s, period)  # the prices in effect in that month
    lines: list[StatementLine] = []
    used_credit: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (line_account, resource, unit), quantity in sorted(usage.items(), key=_line_order):
        deducted = ZERO
        if line_account is not None:
            deducted = min(quantity, credit.get((line_account, resource), ZERO))
            used_credit[(line_account, resource)] += deducted
        billable = quantity - deducted
        price = prices.lookup(resource)
        unit_price = (
            to_decimal(price.price) if price is not None and price.price is not None else ZERO
        )
        lines.append(
            StatementLine(
                account=line_account,
                resource=resource,
                unit=unit,
                quantity=quantity,
                credit=deducted,
                billable=billable,
                unit_price=unit_price,
                price_resource=price.resource if price is not None else None,
                currency=price.currency if price is not None else None,
                charge=(billable * unit_price).quantize(CENT, ROUND_HALF_UP),
            )
        )
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.currency is not None:
            totals[line.currency] += line.charge
    credits = [
        CreditUse(acct, resource, hours, used_credit.get((acct, resource), ZERO))
        for (acct, resource), hours in sorted(credit.items())
    ]
    return Statement(
        period=period,
        user=user,
        account=account,
        credit_applied=credit_applied,
        lines=lines,
        credits=credits,
        totals=dict(totals),
        unpriced=sorted({line.resource for line in lines if not line.priced}),
    )


UsageKey = tuple[str | None, str, str]  # (account, resource, unit)


def _usage(
    s: Session, period: str, user: str | None, account: str | None
) -> dict[UsageKey, Decimal]:
    """Exact sums of the period's ledger rows per (account, resource, unit)."""
    e = LedgerEntry
    query = select(e.account, e.resource, e.unit, e.quantity).where(e.period == period)
    if user is not None:
        query = query.where(e.user_id == get_user(s, user).id)
    if account is not None:
        query = query.where(e.account == account)
    sums: dict[UsageKey, Decimal] = defaultdict(Decimal)
    # Summed here as Decimals, not by SQL in floating point, so no cent is lost on a big month.
    for row_account, resource, unit, quantity in s.execute(query):
        sums[(row_account, resource, unit)] += to_decimal(quantity)
    return dict(sums)


def _line_order(item: tuple[UsageKey, Decimal]) -> tuple[str, str]:
    (account, resource, _), _ = item
    return (account or "", resource)

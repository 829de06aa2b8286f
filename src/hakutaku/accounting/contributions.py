"""Hardware contributed by groups, recorded as credit hours of one resource per month.

A contribution gives its group (account) `hours_per_month` hours of `resource` in every month
from `since` to `until` (inclusive; open-ended without `until`). Credit is per month: what a
month leaves unused does not carry over to the next.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hakutaku.accounting.periods import check_period, current_period
from hakutaku.accounting.resources import HOUR, check_resource, default_unit, to_decimal
from hakutaku.db.models import Contribution
from hakutaku.errors import NotFound, PlatformError
from hakutaku.identity.service import NAME_RE

CreditKey = tuple[str, str]  # (account, resource)


def check_account(account: str) -> str:
    if not NAME_RE.match(account):
        raise PlatformError(f"invalid account (group) name {account!r}", param="account")
    return account


def add_contribution(
    s: Session,
    account: str,
    resource: str,
    hours_per_month: float,
    since: str,
    until: str | None = None,
    description: str = "",
) -> Contribution:
    check_account(account)
    check_resource(resource)
    if default_unit(resource) != HOUR:
        raise PlatformError(
            f"credit is given in hours of a job resource (cpu, gpu:a800, ...), not {resource}",
            param="resource",
        )
    if not hours_per_month > 0:
        raise PlatformError("hours_per_month must be > 0", param="hours_per_month")
    check_period(since, "since")
    if until is not None and check_period(until, "until") < since:
        raise PlatformError(f"until ({until}) is before since ({since})", param="until")
    row = Contribution(
        account=account,
        resource=resource,
        hours_per_month=float(hours_per_month),
        since=since,
        until=until,
        description=description,
    )
    s.add(row)
    s.flush()
    return row


def list_contributions(s: Session, accounts: list[str] | None = None) -> list[Contribution]:
    """All contributions, or those of the given accounts."""
    query = select(Contribution).order_by(Contribution.account, Contribution.id)
    if accounts is not None:
        query = query.where(Contribution.account.in_(accounts))
    return list(s.scalars(query))


def get_contribution(s: Session, contribution_id: int) -> Contribution:
    row = s.get(Contribution, contribution_id)
    if row is None:
        raise NotFound(f"no contribution with id {contribution_id}", param="id")
    return row


def end_contribution(s: Session, contribution_id: int, until: str | None = None) -> Contribution:
    """Make `until` (default: this month) the contribution's last credited month; the months
    before keep their credit. An already earlier end is kept."""
    row = get_contribution(s, contribution_id)
    until = current_period() if until is None else check_period(until, "until")
    if until < row.since:
        raise PlatformError(
            f"contribution {contribution_id} starts in {row.since}, after {until}; to erase "
            "it from every month, remove it instead",
            param="until",
        )
    if row.until is None or until < row.until:
        row.until = until
        s.flush()
    return row


def remove_contribution(s: Session, contribution_id: int) -> Contribution:
    """Erase a contribution from every month (for one recorded by mistake)."""
    row = get_contribution(s, contribution_id)
    s.delete(row)
    s.flush()
    return row


def credit_hours(
    s: Session, period: str, accounts: list[str] | None = None
) -> dict[CreditKey, Decimal]:
    """Credit hours each (account, resource) has in a period: the sum of its contributions."""
    c = Contribution
    query = select(c).where(c.since <= period, or_(c.until.is_(None), c.until >= period))
    if accounts is not None:
        query = query.where(c.account.in_(accounts))
    credit: dict[CreditKey, Decimal] = defaultdict(Decimal)
    for row in s.scalars(query):
        credit[(row.account, row.resource)] += to_decimal(row.hours_per_month)
    return dict(credit)

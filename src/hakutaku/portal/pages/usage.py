"""The usage and billing page: my model calls and tokens per day, my card- and CPU-hours per
month, and the month's statement; the group view; a statement as CSV.

GET /usage?period=YYYY-MM[&account=G][&user=U]   the page (admins: any user, any group, or
                                                 everyone with both left empty)
GET /usage/statement.csv?period=...              the same statement as a CSV file

Whose usage a page shows follows the rule of GET /api/usage/statements
(accounting/access.py: yours, your groups'; admins anyone's), with the same refusals. The
charts' JavaScript (static/js/usage.js) reads GET /api/usage/daily and /api/usage/monthly with
the session cookie. The calls table under the charts is rendered here from the same query
(accounting/series.py); the hours table is filled from the hours chart's own series.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hakutaku.accounting.access import readable_scope
from hakutaku.accounting.export import statement_csv, statement_filename
from hakutaku.accounting.periods import check_period, current_period, month_bounds
from hakutaku.accounting.series import DayOfCalls, daily_calls, month_range
from hakutaku.accounting.statements import Statement, statement
from hakutaku.api.deps import ReplicaDep
from hakutaku.errors import PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.identity.service import get_user
from hakutaku.portal.auth import User, WebUser
from hakutaku.portal.i18n import _
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

JOB = "job"
NAME_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose usage, in which month: resolved by the statements' rule."""

    period: str
    user: str | None  # None with account None: everyone (admins only)
    account: str | None
    asked_user: str  # what the form shows
    asked_account: str

    @property
    def query(self) -> str:
        values = {"period": self.period, "user": self.asked_user, "account": self.asked_account}
        return urlencode(values)

    @property
    def calls_shown(self) -> bool:
        """Model calls carry a user, not a group: no daily chart in a group's view."""
        return self.account is None


@dataclass(frozen=True, slots=True)
class UsageData:
    statement: Statement
    days: list[str]  # the month's days shown, YYYY-MM-DD
    calls: list[DayOfCalls]
    months: list[str]  # the hours chart's; its series is read by the chart itself


def resolve_scope(request: Request, user: WebUser) -> Scope:
    """The page's (period, user, account) from its query, checked like the API's."""
    q = request.query_params
    raw_period = q.get("period", "").strip()
    period = check_period(raw_period) if raw_period else current_period()
    asked_user = q.get("user", "").strip()[:NAME_LENGTH]
    asked_account = q.get("account", "").strip()[:NAME_LENGTH]
    if user.is_admin and "user" not in q and "account" not in q:
        asked_user = user.name  # an admin's page opens on their own usage, as anyone's does
    who, account = readable_scope(user.principal, asked_user or None, asked_account or None)
    return Scope(period, who, account, asked_user, asked_account)


def days_of(period: str, now: datetime | None = None) -> list[str]:
    """The month's days up to today (all of them for a past month)."""
    start, end = month_bounds(period)
    today = (now or datetime.now(UTC)).astimezone(UTC)
    last = min(end - timedelta(days=1), max(today, start))
    days, day = [], start
    while day <= last:
        days.append(day.date().isoformat())
        day += timedelta(days=1)
    return days


def load(replica: Replica, who: Principal, scope: Scope) -> UsageData:
    """The statement and the month's calls (blocking: runs in a thread). A year of ledger
    hours is the hours chart's own request (GET /api/usage/monthly), after the page: a busy
    user's year is tens of thousands of rows, and the page need not wait for them."""
    start, end = month_bounds(scope.period)
    months = month_range(None, scope.period)
    with replica.db.session() as s:
        user_id = None
        if scope.user is not None:
            user_id = who.user_id if scope.user == who.user else get_user(s, scope.user).id
        calls = daily_calls(s, start, end, user_id=user_id) if scope.calls_shown else []
        return UsageData(
            statement=statement(s, scope.period, user=scope.user, account=scope.account),
            days=days_of(scope.period),
            calls=calls,
            months=months,
        )


def chart_sources(scope: Scope, data: UsageData) -> dict[str, str]:
    """The /api URLs the charts read: the same series as the tables."""
    start, end = month_bounds(scope.period)
    whose = {"user": scope.user} if scope.user else {}
    daily = {"since": start.isoformat(), "until": end.isoformat(), **whose}
    monthly = {
        "since": data.months[0],
        "until": data.months[-1],
        "source": JOB,
        **whose,
        **({"account": scope.account} if scope.account else {}),
    }
    return {
        "daily": "/api/usage/daily?" + urlencode(daily),
        "monthly": "/api/usage/monthly?" + urlencode(monthly),
    }


def whose_title(scope: Scope) -> str:
    if scope.user is None and scope.account is None:
        return _("everyone")
    if scope.account is not None and scope.user is not None:
        return _("%(user)s in group %(account)s") % {"user": scope.user, "account": scope.account}
    if scope.account is not None:
        return _("group %(account)s") % {"account": scope.account}
    return scope.user or ""


def _refused(request: Request, exc: PlatformError, context: dict[str, Any]) -> Response:
    return render(request, "usage/page.html", {**context, "error": exc.message}, exc.status)


@router.get("/usage")
async def usage_page(request: Request, replica: ReplicaDep, user: User) -> Response:
    groups = sorted(user.principal.groups)
    context: dict[str, Any] = {"groups": groups, "scope": None, "period": current_period()}
    try:
        scope = resolve_scope(request, user)
        context.update(scope=scope, period=scope.period)
        data = await asyncio.to_thread(load, replica, user.principal, scope)
    except PlatformError as exc:
        return _refused(request, exc, context)
    totals = {currency: amount for currency, amount in sorted(data.statement.totals.items())}
    return render(
        request,
        "usage/page.html",
        {
            **context,
            "data": data,
            "sources": chart_sources(scope, data),
            "whose": whose_title(scope),
            "totals": totals,
            "calls_by_day": _calls_table(data),
        },
    )


@router.get("/usage/statement.csv")
async def statement_download(request: Request, replica: ReplicaDep, user: User) -> Response:
    def make(scope: Scope) -> Statement:
        with replica.db.session() as s:
            return statement(s, scope.period, user=scope.user, account=scope.account)

    try:
        scope = resolve_scope(request, user)
        result = await asyncio.to_thread(make, scope)
    except PlatformError as exc:
        title = _("Not found") if exc.status == 404 else _("Not allowed")
        return render(request, "error.html", {"title": title, "message": exc.message}, exc.status)
    filename = statement_filename(result)
    return Response(
        statement_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{filename}"; '
            f"filename*=UTF-8''{quote(filename)}",
            "cache-control": "no-store",
        },
    )


def _calls_table(data: UsageData) -> list[DayOfCalls]:
    """Days with calls, newest first: what the table under the charts lists."""
    return sorted(data.calls, key=lambda row: (row.day, row.model), reverse=True)

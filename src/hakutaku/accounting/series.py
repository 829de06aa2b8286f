"""Usage over time, for charts: model calls per UTC day and model, ledger use per month.

Each series is one GROUP BY query, so a year of a busy user's calls costs the database one
index range scan (usage_events by user and time, the ledger by period), never a row per call
in Python.

- `daily_calls`: calls, failed calls (status 400 or more), prompt and completion tokens per
  UTC day and model, straight from `usage_events` (so it is current to the last usage flush,
  and failed calls are counted, unlike the ledger, which bills only successful ones).
- `monthly_use`: the ledger's quantities per month and resource (card- and CPU-hours of jobs,
  model calls and thousands of tokens). Summed by the database in floating point and rounded
  to the ledger's millionth of a unit: right for a chart; statements stay the exact figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import String, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from hakutaku.accounting.periods import check_period, month_bounds, period_of
from hakutaku.accounting.resources import QUANTUM
from hakutaku.db.models import LedgerEntry, UsageEvent
from hakutaku.errors import PlatformError

MAX_DAYS = 366  # one daily series: at most a year (and a leap day)
MAX_MONTHS = 60  # one monthly series: at most five years
DEFAULT_DAYS = 30
DEFAULT_MONTHS = 12


class utc_day(FunctionElement[str]):
    """The UTC calendar day of a timestamp column as text, 'YYYY-MM-DD', on every backend."""

    type = String()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day)
def _utc_day_default(element: utc_day, compiler: Any, **kw: Any) -> str:
    # SQLite keeps timestamps as UTC text (UTCDateTime converts on the way in).
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    # timestamptz: the day in UTC, not in the session's time zone.
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@dataclass(frozen=True, slots=True)
class DayOfCalls:
    day: date
    model: str
    calls: int
    errors: int  # status 400 or more
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class MonthOfUse:
    period: str  # YYYY-MM
    source: str  # job | model | workflow
    resource: str  # cpu, gpu:a800, model:NAME:calls, model:NAME:tokens
    unit: str  # hour | call | 1k-tokens
    quantity: Decimal


def day_range(
    since: datetime | None, until: datetime | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """[since, until) in UTC: by default the last DEFAULT_DAYS days, today included.

    Naive times are taken as UTC. A range that is empty or longer than MAX_DAYS is refused
    with a 400 that names the parameter.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    until = _utc(until) if until is not None else None
    if since is None:
        end = until or now
        first = (end - timedelta(days=DEFAULT_DAYS - 1)).date()
        since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    else:
        since = _utc(since)
    if until is None:
        until = max(now, since) + timedelta(microseconds=1)
    if until <= since:
        raise PlatformError(
            f"until ({until.isoformat()}) must be later than since ({since.isoformat()})",
            param="until",
        )
    if until - since > timedelta(days=MAX_DAYS):
        raise PlatformError(
            f"a daily series covers at most {MAX_DAYS} days; ask for a shorter range "
            "(since, until)",
            param="since",
        )
    return since, until


def daily_calls(
    s: Session,
    since: datetime,
    until: datetime,
    *,
    user_id: int | None = None,
    model: str | None = None,
) -> list[DayOfCalls]:
    """Calls per UTC day and model in [since, until), oldest day first; one user's or all."""
    e = UsageEvent
    day = utc_day(e.ts)
    query = (
        select(
            day,
            e.model,
            func.count(),
            func.coalesce(func.sum(case((e.status >= 400, 1), else_=0)), 0),
            func.coalesce(func.sum(e.prompt_tokens), 0),
            func.coalesce(func.sum(e.completion_tokens), 0),
        )
        .where(e.ts >= since, e.ts < until)
        .group_by(day, e.model)
        .order_by(day, e.model)
    )
    if user_id is not None:
        query = query.where(e.user_id == user_id)
    if model is not None:
        query = query.where(e.model == model)
    return [
        DayOfCalls(date.fromisoformat(d), m, int(calls), int(errors), int(pt), int(ct))
        for d, m, calls, errors, pt, ct in s.execute(query)
    ]


def month_range(first: str | None, last: str | None, now: datetime | None = None) -> list[str]:
    """The months from `first` to `last`, both included (YYYY-MM); by default the last
    DEFAULT_MONTHS months up to this one. More than MAX_MONTHS is refused."""
    last = check_period(last, "until") if last else period_of(now or datetime.now(UTC))
    if first:
        first = check_period(first, "since")
    else:
        start, _ = month_bounds(last)
        year, month = start.year, start.month - (DEFAULT_MONTHS - 1)
        while month < 1:
            year, month = year - 1, month + 12
        first = f"{year:04d}-{month:02d}"
    if first > last:
        raise PlatformError(f"since ({first}) is after until ({last})", param="since")
    months = [first]
    while months[-1] != last:
        if len(months) >= MAX_MONTHS:
            raise PlatformError(
                f"a monthly series covers at most {MAX_MONTHS} months; ask for fewer "
                "(since, until)",
                param="since",
            )
        months.append(period_of(month_bounds(months[-1])[1]))
    return months


def monthly_use(
    s: Session,
    months: list[str],
    *,
    user_id: int | None = None,
    account: str | None = None,
    source: str | None = None,
) -> list[MonthOfUse]:
    """The ledger summed per month and resource over `months` (YYYY-MM, from month_range)."""
    e = LedgerEntry
    query = (
        # `period IN (...)`, not a range: with a user (or an account) that is one seek per
        # month in ix_ledger_period_user (ix_ledger_period_account) instead of a scan of
        # every row of the months
        select(e.period, e.source, e.resource, e.unit, func.sum(e.quantity))
        .where(e.period.in_(months))
        .group_by(e.period, e.source, e.resource, e.unit)
        .order_by(e.period, e.source, e.resource)
    )
    if user_id is not None:
        query = query.where(e.user_id == user_id)
    if account is not None:
        query = query.where(e.account == account)
    # `source` is picked from the groups, not in WHERE: as a WHERE equality it draws the
    # planner to the (source, ref, resource) unique index, a scan of every job's rows.
    return [
        MonthOfUse(period, src, resource, unit, _quantity(total))
        for period, src, resource, unit, total in s.execute(query)
        if source is None or src == source
    ]


def _quantity(total: float | None) -> Decimal:
    value = Decimal(repr(float(total or 0.0))).quantize(QUANTUM)
    # 3.000000 -> 3, 0.500000 -> 0.5: as the ledger's own numbers read
    return value.normalize() if value != value.to_integral_value() else value.quantize(Decimal(1))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

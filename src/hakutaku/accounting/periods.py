"""Billing periods: calendar months in UTC, written "YYYY-MM"."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hakutaku.errors import PlatformError

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_of(moment: datetime) -> str:
    """The period a moment falls in (naive datetimes are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def current_period() -> str:
    return period_of(datetime.now(UTC))


def check_period(value: str, param: str = "period") -> str:
    """Return `value` if it is a valid "YYYY-MM" period, else raise a 400 naming the parameter."""
    if not PERIOD_PATTERN.match(value):
        raise PlatformError(
            f"invalid {param} {value!r}: write a month as YYYY-MM, e.g. 2025-03", param=param
        )
    return value


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """The first instant of the month and the first instant of the next one (UTC)."""
    year, month = (int(part) for part in check_period(period).split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def next_period(period: str) -> str:
    """The month after `period`."""
    return period_of(month_bounds(period)[1])

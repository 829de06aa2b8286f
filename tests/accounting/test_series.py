"""Usage series for charts: calls per UTC day and model, the ledger per month; CSV statements.

On SQLite and PostgreSQL: the day bucket is the UTC day on both, whatever the zone of the
times written or of the database session.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text

from hakutaku.accounting.export import TOTAL, statement_csv, statement_filename
from hakutaku.accounting.ledger import collect
from hakutaku.accounting.prices import make_spec, set_price
from hakutaku.accounting.series import (
    DayOfCalls,
    daily_calls,
    day_range,
    month_range,
    monthly_use,
)
from hakutaku.accounting.statements import statement
from hakutaku.db.session import Database
from hakutaku.errors import PlatformError
from tests.accounting.conftest import T0, add_call, add_job, user_id

BEIJING = timezone(timedelta(hours=8))


def test_calls_are_bucketed_by_utc_day_and_model(db: Database) -> None:
    midnight = datetime(2025, 3, 11, tzinfo=UTC)
    with db.session() as s:
        # 23:59:59 UTC on the 10th, written as 07:59:59 on the 11th in Beijing: the 10th
        add_call(s, "alice", "chat", (midnight - timedelta(seconds=1)).astimezone(BEIJING))
        add_call(s, "alice", "chat", midnight, prompt=10, completion=5)
        add_call(s, "alice", "chat", midnight + timedelta(hours=23), status=500)
        add_call(s, "alice", "lab", midnight + timedelta(hours=1), prompt=1, completion=2)
        add_call(s, "bob", "chat", midnight, prompt=100)
        add_call(s, "alice", "chat", midnight + timedelta(days=5))  # outside the range
    since, until = midnight - timedelta(days=1), midnight + timedelta(days=2)
    with db.session() as s:
        # a session in another zone must not move the PostgreSQL day bucket
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SET TIME ZONE 'Asia/Shanghai'"))
        alice = daily_calls(s, since, until, user_id=user_id(s, "alice"))
        everyone = daily_calls(s, since, until)
        only_lab = daily_calls(s, since, until, user_id=user_id(s, "alice"), model="lab")
    day10, day11 = midnight.date() - timedelta(days=1), midnight.date()
    assert alice == [
        DayOfCalls(day10, "chat", 1, 0, 0, 0),
        DayOfCalls(day11, "chat", 2, 1, 10, 5),
        DayOfCalls(day11, "lab", 1, 0, 1, 2),
    ]
    assert DayOfCalls(day11, "chat", 3, 1, 110, 5) in everyone
    assert only_lab == [DayOfCalls(day11, "lab", 1, 0, 1, 2)]


def test_the_day_range_defaults_to_thirty_days_and_refuses_long_or_empty_ranges() -> None:
    now = datetime(2025, 3, 31, 12, tzinfo=UTC)
    since, until = day_range(None, None, now)
    assert since == datetime(2025, 3, 2, tzinfo=UTC) and until > now
    naive = day_range(datetime(2025, 3, 1), datetime(2025, 3, 2), now)
    assert naive == (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))
    with pytest.raises(PlatformError, match="at most 366 days") as long:
        day_range(datetime(2023, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC), now)
    assert long.value.param == "since"
    with pytest.raises(PlatformError, match="must be later than since"):
        day_range(datetime(2025, 3, 2, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC), now)


def test_month_ranges() -> None:
    now = datetime(2025, 3, 5, tzinfo=UTC)
    months = month_range(None, None, now)
    assert months[0] == "2024-04" and months[-1] == "2025-03" and len(months) == 12
    assert month_range("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
    with pytest.raises(PlatformError, match="after until"):
        month_range("2025-03", "2025-01")
    with pytest.raises(PlatformError, match="at most 60 months"):
        month_range("2015-01", "2025-01")
    with pytest.raises(PlatformError, match="YYYY-MM") as bad:
        month_range("March", None)
    assert bad.value.param == "since"


def test_monthly_use_sums_the_ledger_per_month_and_resource(db: Database) -> None:
    with db.session() as s:
        add_job(s, "alice", account="cms", cpus=2, accelerator="gpu", model="a800", cards=1)
        add_job(s, "alice", account="cms", cpus=1, seconds=1800)
        add_job(s, "alice", cpus=3, start=T0 + timedelta(days=31))  # April, no account
        add_job(s, "bob", account="cms", cpus=4)
        add_call(s, "alice", "chat", T0, prompt=1500, completion=500)
    with db.session() as s:
        collect(s, now=T0)
    with db.session() as s:
        alice = user_id(s, "alice")
        mine = monthly_use(s, ["2025-03", "2025-04"], user_id=alice, source="job")
        group = monthly_use(s, ["2025-03", "2025-04"], account="cms", source="job")
        calls = monthly_use(s, ["2025-03"], user_id=alice, source="model")
    assert [(r.period, r.resource, r.quantity, r.unit) for r in mine] == [
        ("2025-03", "cpu", Decimal("2.5"), "hour"),
        ("2025-03", "gpu:a800", Decimal(1), "hour"),
        ("2025-04", "cpu", Decimal(3), "hour"),
    ]
    assert [(r.resource, r.quantity) for r in group] == [
        ("cpu", Decimal("6.5")),
        ("gpu:a800", Decimal(1)),
    ]
    assert {(r.resource, r.quantity) for r in calls} == {
        ("model:chat:calls", Decimal(1)),
        ("model:chat:tokens", Decimal(2)),
    }


def test_a_statement_as_csv_has_its_lines_and_totals(db: Database) -> None:
    with db.session() as s:
        set_price(s, make_spec("cpu", "0.05"), "2025-01")
        set_price(s, make_spec("gpu", "4"), "2025-01")
        add_job(s, "alice", account="cms", cpus=4, accelerator="gpu", model="a800", cards=2)
        add_job(s, "alice", account="cms", cpus=1, seconds=1234.5)
    with db.session() as s:
        collect(s, now=T0)
    with db.session() as s:
        result = statement(s, "2025-03", account="cms")
    rows = list(csv.DictReader(io.StringIO(statement_csv(result))))
    lines = [r for r in rows if r["resource"] != TOTAL]
    assert [(r["account"], r["resource"], r["quantity"], r["charge"]) for r in lines] == [
        (line.account, line.resource, str(line.quantity), str(line.charge)) for line in result.lines
    ]
    totals = {r["currency"]: r["charge"] for r in rows if r["resource"] == TOTAL}
    assert totals == {"CNY": str(result.totals["CNY"])}
    assert sum(Decimal(r["charge"]) for r in lines) == Decimal(totals["CNY"])
    assert statement_filename(result) == "statement-2025-03-cms.csv"

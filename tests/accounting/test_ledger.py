"""The collector: finished jobs and gateway calls become ledger rows, exactly and only once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update

from hakutaku.accounting.collector import Collector
from hakutaku.accounting.ledger import collect
from hakutaku.accounting.resources import to_decimal
from hakutaku.db.models import Job, LedgerEntry
from hakutaku.db.session import Database
from tests.accounting.conftest import T0, add_call, add_job


def ledger(db: Database) -> dict[tuple[str, str, str], tuple[Decimal, str, str | None, str]]:
    """(source, ref, resource) -> (quantity, unit, account, period)."""
    with db.session() as s:
        return {
            (e.source, e.ref, e.resource): (to_decimal(e.quantity), e.unit, e.account, e.period)
            for e in s.scalars(select(LedgerEntry))
        }


def test_card_and_cpu_hours_of_finished_jobs(db: Database) -> None:
    with db.session() as s:
        a800 = add_job(
            s,
            "alice",
            account="cms",
            cpus=4,
            accelerator="gpu",
            model="a800",
            cards=2,
            seconds=5400,
        )
        dcu = add_job(
            s,
            "bob",
            account="atlas",
            cpus=1,
            accelerator="dcu",
            model="k100ai",
            cards=1,
            seconds=1234.5,
        )
        npu = add_job(s, "carol", cpus=2, accelerator="npu", cards=3, seconds=3600, state="timeout")
        cpu_only = add_job(s, "alice", cpus=8, seconds=900, state="failed")
        never_ran = add_job(s, "bob", start=None, seconds=None, state="cancelled")
        running = add_job(s, "bob", seconds=None, state="running")
        no_end_yet = add_job(s, "bob", seconds=None, state="completed")
        pending = add_job(s, "carol", start=None, seconds=None, state="pending")
        ids = [
            a800.id,
            dcu.id,
            npu.id,
            cpu_only.id,
            never_ran.id,
            running.id,
            no_end_yet.id,
            pending.id,
        ]
    with db.session() as s:
        counts = collect(s, now=T0)
    assert (counts.jobs, counts.job_entries) == (5, 7)

    hour = "hour"
    assert ledger(db) == {
        ("job", str(ids[0]), "cpu"): (Decimal("6"), hour, "cms", "2025-03"),  # 4 cores x 1.5 h
        ("job", str(ids[0]), "gpu:a800"): (Decimal("3"), hour, "cms", "2025-03"),  # 2 cards
        # 1234.5 s = 0.34291666.. h, kept to a millionth of an hour
        ("job", str(ids[1]), "cpu"): (Decimal("0.342917"), hour, "atlas", "2025-03"),
        ("job", str(ids[1]), "dcu:k100ai"): (Decimal("0.342917"), hour, "atlas", "2025-03"),
        ("job", str(ids[2]), "cpu"): (Decimal("2"), hour, None, "2025-03"),
        ("job", str(ids[2]), "npu"): (Decimal("3"), hour, None, "2025-03"),  # no model: the kind
        ("job", str(ids[3]), "cpu"): (Decimal("2"), hour, None, "2025-03"),  # 8 cores x 0.25 h
    }
    with db.session() as s:
        accounted = dict(s.execute(select(Job.id, Job.accounted).where(Job.id.in_(ids))).all())
    # The job that never started costs nothing but is settled; unfinished ones wait.
    assert [accounted[i] for i in ids] == [True, True, True, True, True, False, False, False]


def test_recording_twice_changes_nothing(db: Database) -> None:
    with db.session() as s:
        job = add_job(s, "alice", account="cms", cpus=2, accelerator="gpu", model="l40", cards=1)
    with db.session() as s:
        assert collect(s, now=T0).job_entries == 2
    before = ledger(db)
    with db.session() as s:
        again = collect(s, now=T0)
    assert (again.jobs, again.job_entries) == (0, 0)
    # Even if a job is offered again (a second replica, a lost flag), the ledger keeps one row.
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job.id).values(accounted=False))
    with db.session() as s:
        assert collect(s, now=T0).jobs == 1
    assert ledger(db) == before


def test_a_job_belongs_to_the_month_it_ended(db: Database) -> None:
    with db.session() as s:
        job = add_job(s, "alice", start=datetime(2025, 3, 31, 23, 0, tzinfo=UTC), seconds=7200)
    with db.session() as s:
        collect(s, now=T0)
    assert ledger(db)[("job", str(job.id), "cpu")][3] == "2025-04"


def test_model_calls_per_user_model_and_day(db: Database) -> None:
    day1 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    with db.session() as s:
        add_call(s, "alice", "qwen", day1, prompt=1000, completion=500)
        add_call(s, "alice", "qwen", day1 + timedelta(hours=3), prompt=20, completion=3)
        add_call(s, "alice", "qwen", day1, prompt=999, status=500)  # failed: not charged
        add_call(s, "alice", "jet-tagger", day1)  # no tokens: calls only
        add_call(s, "bob", "qwen", day2, prompt=7)
    with db.session() as s:
        counts = collect(s, now=day2)
    assert counts.model_entries == 5
    rows = ledger(db)
    alice_day1 = [
        (k[2], v[0], v[1]) for k, v in rows.items() if "2025-03-10" in k[1] and "qwen" in k[1]
    ]
    assert sorted(alice_day1) == [
        ("model:qwen:calls", Decimal("2"), "call"),
        ("model:qwen:tokens", Decimal("1.523"), "1k-tokens"),
    ]
    assert {k[2] for k in rows if "jet-tagger" in k[1]} == {"model:jet-tagger:calls"}

    # The day fills up: the next pass updates the same rows instead of adding new ones.
    with db.session() as s:
        add_call(s, "bob", "qwen", day2 + timedelta(hours=1), prompt=1000, completion=993)
    with db.session() as s:
        collect(s, now=day2)
    bob = {k[2]: v[0] for k, v in ledger(db).items() if "2025-03-11" in k[1]}
    assert bob == {"model:qwen:calls": Decimal("2"), "model:qwen:tokens": Decimal("2")}
    assert len(ledger(db)) == len(rows)

    # A pass recomputes from the day before the previous pass, so a late event still counts if
    # a pass ran since; after a pass two days on, the day is settled and stays as it is.
    tokens_day1 = next(k for k in rows if k[2] == "model:qwen:tokens" and "2025-03-10" in k[1])
    with db.session() as s:
        add_call(s, "alice", "qwen", day1, prompt=5000)
    with db.session() as s:
        collect(s, now=day2 + timedelta(days=2))
    assert ledger(db)[tokens_day1][0] == Decimal("6.523")
    with db.session() as s:
        add_call(s, "alice", "qwen", day1, prompt=5000)
    with db.session() as s:
        collect(s, now=day2 + timedelta(days=2))
    assert ledger(db)[tokens_day1][0] == Decimal("6.523")


def test_background_collector_accounts_jobs_and_a_last_pass_on_stop(db: Database) -> None:
    async def scenario() -> tuple[int, int]:
        collector = Collector(db, interval=0.05)
        collector.start()
        with db.session() as s:
            first = add_job(s, "alice", cpus=2)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if ("job", str(first.id), "cpu") in ledger(db):
                break
        collector.interval = 3600
        await asyncio.sleep(0.2)  # the loop is now asleep for an hour: only stop() can see `last`
        with db.session() as s:
            last = add_job(s, "bob", cpus=3)
        await collector.stop()
        return first.id, last.id

    first, last = asyncio.run(scenario())
    rows = ledger(db)
    assert rows[("job", str(first), "cpu")][0] == Decimal(2)
    assert rows[("job", str(last), "cpu")][0] == Decimal(3)


def test_many_jobs_are_accounted_in_batches(db: Database) -> None:
    with db.session() as s:
        template = add_job(s, "carol", account="atlas", cpus=1, seconds=36)  # 0.01 core-hour
        s.add_all(
            Job(
                user_id=template.user_id,
                account="atlas",
                partition="cpu",
                qos="normal",
                cpus=1,
                time_limit=60,
                backend="slurm",
                state="completed",
                started_at=template.started_at,
                ended_at=template.ended_at,
            )
            for _ in range(1199)
        )
    with db.session() as s:
        counts = collect(s, now=T0)
    assert (counts.jobs, counts.job_entries) == (1200, 1200)
    assert sum(quantity for quantity, *_ in ledger(db).values()) == Decimal(12)

"""The ledger: finished jobs, gateway calls and workflow tasks turned into measured use of
resources.

`collect(session)` is idempotent and safe to run from several replicas at once: a ledger row is
unique by (source, ref, resource) and written with "insert, or leave/update on conflict", and a
job is marked `accounted` in the same transaction that writes its rows.

Jobs: one row per resource (`cpu` core-hours, `KIND:MODEL` card-hours) in the month the job
ended. Model calls: one row per (model, user, UTC day) for calls and one for thousands of tokens,
recomputed from `usage_events` while the day can still change (today and yesterday) and left
alone after that. Workflow tasks: see `workflow_tasks` (one row per task, resource and run).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from hakutaku.accounting.periods import period_of
from hakutaku.accounting.resources import (
    CALL,
    CPU,
    HOUR,
    KILO_TOKENS,
    card_resource,
    kilo_tokens,
    model_calls_resource,
    model_tokens_resource,
    unit_hours,
)
from hakutaku.accounting.sql import insert_on_conflict
from hakutaku.accounting.workflow_tasks import collect_workflow_tasks
from hakutaku.compute.states import FINAL_STATES
from hakutaku.db.models import Job, LedgerEntry, Meta, UsageEvent

JOB = "job"
MODEL = "model"
JOB_BATCH = 500
# Days of model calls still recomputed on each pass: events are flushed within seconds, so a
# day is final once the next one has passed. Before this day the ledger is settled.
MODEL_USAGE_OPEN_FROM = "accounting.model_usage_open_from"
INSERT_CHUNK = 500
REF_LENGTH = 128
RESOURCE_LENGTH = 96


@dataclass(frozen=True, slots=True)
class CollectCounts:
    jobs: int  # jobs newly marked accounted (with or without rows)
    job_entries: int  # ledger rows written for them
    model_entries: int  # model-call rows inserted or updated
    workflow_tasks: int = 0  # workflow tasks newly marked accounted (with or without rows)
    workflow_entries: int = 0  # ledger rows written for them


def collect(session: Session, now: datetime | None = None) -> CollectCounts:
    """Bring the ledger up to date with finished jobs, gateway calls and workflow tasks
    (commit is the caller's)."""
    jobs, job_entries = collect_jobs(session)
    model_entries = collect_model_usage(session, now or datetime.now(UTC))
    tasks, task_entries = collect_workflow_tasks(session)
    return CollectCounts(jobs, job_entries, model_entries, tasks, task_entries)


# ------------------------------------------------------------------------------------ jobs


def job_seconds(job: Job) -> Decimal:
    """Elapsed wall time of a job, exact to the microsecond; 0 if it never started."""
    if job.started_at is None or job.ended_at is None:
        return Decimal(0)
    elapsed = job.ended_at - job.started_at
    seconds = elapsed.days * 86400 + elapsed.seconds + Decimal(elapsed.microseconds) / 10**6
    return max(seconds, Decimal(0))


def job_usage(job: Job) -> dict[str, Decimal]:
    """Resource -> hours a finished job used: cores x hours, and cards x hours if it had any."""
    seconds = job_seconds(job)
    usage: dict[str, Decimal] = {}
    if seconds > 0 and job.cpus > 0:
        usage[CPU] = unit_hours(job.cpus, seconds)
    if seconds > 0 and job.accelerators > 0 and job.accelerator != CPU:
        usage[card_resource(job.accelerator, job.accelerator_model)] = unit_hours(
            job.accelerators, seconds
        )
    return {resource: hours for resource, hours in usage.items() if hours > 0}


def collect_jobs(session: Session) -> tuple[int, int]:
    """Write ledger rows for finished, unaccounted jobs and mark them accounted."""
    jobs = entries = 0
    while True:
        batch = session.scalars(
            select(Job)
            .where(
                Job.accounted.is_(False),
                Job.state.in_([str(state) for state in FINAL_STATES]),
                # A job that ran is accounted once the backend reported when it ended.
                or_(Job.started_at.is_(None), Job.ended_at.is_not(None)),
            )
            .order_by(Job.id)
            .limit(JOB_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        rows = [
            _job_row(job, resource, hours)
            for job in batch
            for resource, hours in job_usage(job).items()
        ]
        for chunk in _chunks(rows):
            session.execute(
                insert_on_conflict(session, LedgerEntry).values(chunk).on_conflict_do_nothing()
            )
        if batch:
            session.execute(
                update(Job).where(Job.id.in_([job.id for job in batch])).values(accounted=True)
            )
        jobs += len(batch)
        entries += len(rows)
        if len(batch) < JOB_BATCH:
            return jobs, entries


def _job_row(job: Job, resource: str, hours: Decimal) -> dict[str, Any]:
    assert job.ended_at is not None
    return {
        "ts": job.ended_at,
        "period": period_of(job.ended_at),
        "user_id": job.user_id,
        "account": job.account,
        "source": JOB,
        "ref": str(job.id),
        "resource": resource,
        "quantity": float(hours),
        "unit": HOUR,
    }


# ------------------------------------------------------------------------------ model calls


def collect_model_usage(session: Session, now: datetime) -> int:
    """Recompute the per-day model-call rows of every day that may still change."""
    today = now.astimezone(UTC).date()
    first = _open_from(session)
    if first is None:
        earliest = session.scalar(select(func.min(UsageEvent.ts)))
        if earliest is None:
            return 0
        first = earliest.astimezone(UTC).date()
    written = 0
    day = first
    while day <= today:
        written += _collect_day(session, day)
        day += timedelta(days=1)
    # Never move backwards: a day once settled stays settled.
    _set_open_from(session, max(first, today - timedelta(days=1)))
    return written


def _collect_day(session: Session, day: date) -> int:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    e = UsageEvent
    groups = session.execute(
        select(
            e.user_id,
            e.model,
            func.count(),
            func.coalesce(func.sum(e.prompt_tokens + e.completion_tokens), 0),
            func.max(e.ts),
        )
        # Failed calls are not charged.
        .where(e.ts >= start, e.ts < start + timedelta(days=1), e.status < 400)
        .group_by(e.user_id, e.model)
        # One order for every replica, so concurrent upserts lock rows in the same order.
        .order_by(e.user_id, e.model)
    ).all()
    rows: list[dict[str, Any]] = []
    for user_id, model, calls, tokens, last in groups:
        ref = _fit(
            f"{user_id if user_id is not None else '-'}:{day.isoformat()}:{model}", REF_LENGTH
        )
        common = {
            "ts": last,
            "period": period_of(start),
            "user_id": user_id,
            "account": None,  # the gateway knows the caller, not a group to bill
            "source": MODEL,
            "ref": ref,
        }
        rows.append(
            {
                **common,
                "resource": _model_resource(model, model_calls_resource),
                "quantity": float(calls),
                "unit": CALL,
            }
        )
        if tokens:
            rows.append(
                {
                    **common,
                    "resource": _model_resource(model, model_tokens_resource),
                    "quantity": float(kilo_tokens(int(tokens))),
                    "unit": KILO_TOKENS,
                }
            )
    for chunk in _chunks(rows):
        insert = insert_on_conflict(session, LedgerEntry).values(chunk)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["source", "ref", "resource"],
                set_={"quantity": insert.excluded.quantity, "ts": insert.excluded.ts},
            )
        )
    return len(rows)


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Slices small enough for one INSERT (SQLite caps the parameters of a statement)."""
    for start in range(0, len(rows), INSERT_CHUNK):
        yield rows[start : start + INSERT_CHUNK]


def _model_resource(model: str, name: Callable[[str], str]) -> str:
    resource = name(model)
    if len(resource) <= RESOURCE_LENGTH:
        return resource
    # Very long model names are shortened with a digest so the row still fits and stays unique.
    room = RESOURCE_LENGTH - (len(resource) - len(model))
    return name(_fit(model, room))


def _fit(text: str, length: int) -> str:
    if len(text) <= length:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{text[: length - 13]}~{digest}"


def _open_from(session: Session) -> date | None:
    value = session.scalar(select(Meta.value).where(Meta.key == MODEL_USAGE_OPEN_FROM))
    return date.fromisoformat(value) if value else None


def _set_open_from(session: Session, day: date) -> None:
    insert = insert_on_conflict(session, Meta).values(
        key=MODEL_USAGE_OPEN_FROM, value=day.isoformat()
    )
    session.execute(
        insert.on_conflict_do_update(index_elements=["key"], set_={"value": insert.excluded.value})
    )

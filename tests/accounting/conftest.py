"""A real SQLite database made by the project's migrations, and helpers to put jobs in it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from hakutaku.db.migrate import upgrade
from hakutaku.db.models import Job, UsageEvent
from hakutaku.db.session import Database
from hakutaku.identity import service
from tests.support.postgres import fresh_database

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
REQUEST_IDS = itertools.count(1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database with three users in two groups, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hai.db'}"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_url"))
    upgrade(url)
    database = Database(url)
    with database.session() as s:
        service.add_user(s, "alice", groups=["cms"])
        service.add_user(s, "bob", groups=["cms", "atlas"])
        service.add_user(s, "carol", groups=["atlas"])
    try:
        yield database
    finally:
        database.dispose()


def fresh_postgres_database(server_url: str) -> str:
    return fresh_database(server_url, "accounting")


def user_id(s: Session, name: str) -> int:
    return service.get_user(s, name).id


def add_job(
    s: Session,
    user: str,
    *,
    account: str | None = None,
    cpus: int = 1,
    accelerator: str = "cpu",
    model: str | None = None,
    cards: int = 0,
    start: datetime | None = T0,
    seconds: float | None = 3600,
    state: str = "completed",
    **extra: Any,
) -> Job:
    """A job row as the scheduler leaves it: final state, start and end times from the backend."""
    ended = (
        start + timedelta(seconds=seconds) if start is not None and seconds is not None else None
    )
    job = Job(
        user_id=user_id(s, user),
        account=account,
        partition=accelerator,
        qos="normal",
        cpus=cpus,
        accelerator=accelerator,
        accelerator_model=model,
        accelerators=cards,
        time_limit=86400,
        backend="local",
        state=state,
        started_at=start,
        ended_at=ended,
        **extra,
    )
    s.add(job)
    s.flush()
    return job


def add_call(
    s: Session,
    user: str,
    model: str,
    ts: datetime,
    *,
    prompt: int = 0,
    completion: int = 0,
    status: int = 200,
) -> None:
    s.add(
        UsageEvent(
            ts=ts,
            request_id=f"req-{next(REQUEST_IDS)}",
            key_id=None,
            user_id=user_id(s, user),
            model=model,
            method="chat",
            prompt_tokens=prompt,
            completion_tokens=completion,
            status=status,
            latency_ms=1.0,
        )
    )
    s.flush()

"""The usage writer never stalls on one bad row, keeps events while the database is down, and
stays within its bound — on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from hakutaku.db.migrate import upgrade
from hakutaku.db.models import UsageEvent
from hakutaku.db.session import Database
from hakutaku.metering.usage import Usage, UsageRecorder, now


def _event(model: str = "lab", method: str = "add") -> Usage:
    return Usage(
        ts=now(),
        request_id="req_" + os.urandom(12).hex(),
        key_id=None,
        user_id=None,
        model=model,
        method=method,
        prompt_tokens=1,
        completion_tokens=2,
        status=200,
        latency_ms=1.5,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'usage.db'}"
    upgrade(url)
    db = Database(url)
    request.addfinalizer(db.dispose)
    return db


def _landed(db: Database, events: list[Usage]) -> set[str]:
    ids = [e.request_id for e in events]
    with db.session() as s:
        return set(s.scalars(select(UsageEvent.request_id).where(UsageEvent.request_id.in_(ids))))


def _poison(db: Database) -> list[Usage]:
    """Rows this database refuses: text it cannot encode; on PostgreSQL also a value longer
    than its column and a NUL byte (SQLite stores both)."""
    bad = [_event(method="bad-\ud800-surrogate")]
    if db.engine.dialect.name == "postgresql":
        bad += [_event(model="m" * 300), _event(method="nul\x00byte")]
    return bad


def test_a_refused_row_is_set_aside_and_the_rest_land(database: Database, tmp_path: Path) -> None:
    rejects = tmp_path / "rejected.jsonl"
    recorder = UsageRecorder(database, reject_path=rejects)
    good = [_event() for _ in range(7)]
    bad = _poison(database)
    for event in good[:3] + bad + good[3:]:
        recorder.record(event)
    asyncio.run(recorder.flush())
    assert _landed(database, good) == {e.request_id for e in good}
    assert recorder.pending == 0 and recorder.rejected == len(bad)
    kept = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert sorted(k["request_id"] for k in kept) == sorted(e.request_id for e in bad)
    # The next batches land as usual: billing did not stall on the bad rows.
    later = [_event() for _ in range(3)]
    for event in later:
        recorder.record(event)
    asyncio.run(recorder.flush())
    assert _landed(database, later) == {e.request_id for e in later}
    assert recorder.written == len(good) + len(later)


def test_events_wait_while_the_database_is_down_within_the_bound(tmp_path: Path) -> None:
    # Nothing listens on port 9: every write fails as "unreachable", never as a bad row.
    db = Database("postgresql+psycopg://hai@127.0.0.1:9/nothing")
    recorder = UsageRecorder(db, max_pending=5, reject_path=tmp_path / "rejected.jsonl")
    dropped: list[int] = []
    recorder.on_dropped = dropped.append
    events = [_event() for _ in range(8)]
    for event in events:
        recorder.record(event)
    assert recorder.pending == 5 and recorder.dropped == 3 and sum(dropped) == 3
    asyncio.run(recorder.flush())
    assert recorder.pending == 5 and recorder.rejected == 0
    assert not (tmp_path / "rejected.jsonl").exists()
    db.dispose()
    # The oldest were dropped: the five newest are the ones kept for the next flush.
    up = tmp_path / "up.db"
    upgrade(f"sqlite:///{up}")
    recorder.db = Database(f"sqlite:///{up}")
    asyncio.run(recorder.flush())
    assert _landed(recorder.db, events) == {e.request_id for e in events[3:]}
    recorder.db.dispose()

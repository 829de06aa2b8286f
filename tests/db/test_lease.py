"""Named leases (hakutaku.db.lease) on SQLite and PostgreSQL: take, renew, expiry, takeover with
a higher term, fencing of a stale holder's writes, release and close."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from hakutaku.db.lease import LeaseHolder, read_lease
from hakutaku.db.migrate import upgrade
from hakutaku.db.models import Meta
from hakutaku.db.session import Database
from tests.support.postgres import fresh_database

TTL = 0.6  # seconds; long enough for a busy two-core machine to renew in time


def fresh_postgres_database(server_url: str) -> str:
    return fresh_database(server_url, "lease")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lease.db'}"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_url"))
    upgrade(url)
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


def test_one_holder_renews_and_others_wait(db: Database) -> None:
    a = LeaseHolder(db, "loop", TTL, "a")
    b = LeaseHolder(db, "loop", TTL, "b")
    assert a.hold() and a.held and a.term == 1
    assert not b.hold() and not b.held and b.term is None
    state = a.state()
    assert state is not None and (state.holder, state.term) == ("a", 1)
    # Renewed on every tick once half its time has gone: it never lapses while a ticks.
    for _ in range(8):
        time.sleep(TTL / 4)
        assert a.hold() and not b.hold()
    later = a.state()
    assert later is not None and later.term == 1 and later.expires_at > state.expires_at
    # Leases are by name: another loop's lease is free.
    assert LeaseHolder(db, "other-loop", TTL, "b").hold()


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced(db: Database) -> None:
    a = LeaseHolder(db, "loop", TTL, "a")
    b = LeaseHolder(db, "loop", TTL, "b")
    assert a.hold()
    time.sleep(TTL * 1.2)  # a stalls: no renewal
    assert not a.held  # its own reckoning ends no later than the database's
    assert b.hold() and b.term == 2
    # a's writes made as the holder are refused: it must roll them back.
    with db.session() as s:
        s.add(Meta(key="written-by", value="a"))
        assert not a.renew(s)
        s.rollback()
    assert not a.held and not a.hold()
    with db.session() as s:
        assert s.get(Meta, "written-by") is None
        s.add(Meta(key="written-by", value="b"))
        assert b.renew(s)
    with db.session() as s:
        assert s.scalar(select(Meta.value).where(Meta.key == "written-by")) == "b"
        lease = read_lease(s, "loop")
    assert lease is not None and (lease.holder, lease.term) == ("b", 2)


def test_release_hands_over_at_once_and_close_for_good(db: Database) -> None:
    a = LeaseHolder(db, "loop", 30.0, "a")
    b = LeaseHolder(db, "loop", 30.0, "b")
    assert a.hold() and not b.hold()
    a.release()
    assert not a.held
    assert b.hold() and b.term == 2  # no waiting for the 30 s to pass
    b.close()
    assert not b.hold()  # closed: never again
    assert a.hold() and a.term == 3
    state = a.state()
    assert state is not None and state.holder == "a"


def test_a_restarted_process_waits_for_its_predecessors_lease(db: Database) -> None:
    """Holder ids are unique per process: a successor does not inherit a lease it cannot know
    is still in use (the predecessor may be alive and stalled)."""
    first = LeaseHolder(db, "loop", TTL)
    second = LeaseHolder(db, "loop", TTL)
    assert first.id != second.id
    assert first.hold() and not second.hold()
    time.sleep(TTL * 1.2)
    assert second.hold()


def test_concurrent_takers_get_one_lease(db: Database) -> None:
    holders = [LeaseHolder(db, "race", 30.0, f"h{i}") for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        won = list(pool.map(lambda h: h.hold(), holders))
    assert won.count(True) == 1
    state = holders[won.index(True)].state()
    assert state is not None and state.term == 1


def test_a_positive_ttl_is_required(db: Database) -> None:
    with pytest.raises(ValueError, match="positive"):
        LeaseHolder(db, "loop", 0)

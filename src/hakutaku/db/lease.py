"""Named leases: one process at a time runs a loop that would do harm, or waste, if every
replica ran it (following a Slurm cluster's jobs; later a deployment controller).

A lease is a row of `leases`: its name, its holder, a term and when it expires. A holder renews
it well before it expires; when the holder dies, the row simply expires and the next process to
ask takes it over, with the term one higher. Everything is a conditional UPDATE on one row, so
the same code is correct on SQLite (writes are serialised by the database lock) and on
PostgreSQL (the row lock serialises a renewal with a takeover, and READ COMMITTED re-checks the
condition on the row a concurrent transaction left):

- take: `SET holder=me, term=term+1 ... WHERE name=N AND (holder IS NULL OR holder=me OR
  expires_at <= now)`, or an INSERT ... ON CONFLICT DO NOTHING when there is no row yet;
- renew: `SET expires_at=now+ttl WHERE name=N AND holder=me AND term=T`;
- release: `SET holder=NULL, expires_at=now WHERE name=N AND holder=me AND term=T`.

Time: on PostgreSQL `now` is the database's clock (`clock_timestamp()`), so replicas on hosts
whose clocks disagree still agree on when a lease expires; SQLite is one machine's file, and its
processes share that machine's clock. A holder trusts its lease until `ttl` after it *sent* its
last committed renewal, by its own monotonic clock, which is never later than the database's
expiry.

Fencing: between a holder's last renewal and its next write, the lease may have expired and
been taken (a stalled process, a slow command). `renew(session)` inside the transaction of that
write succeeds only while the holder's term is current; a caller that commits its writes only
then never overwrites what the next holder wrote. A lease is a promise about time; the term is
what makes a stale holder harmless.

Takeover bound: a holder that dies stops renewing; its lease expires at most `ttl` after its
last renewal, and a waiting process takes it at its next `hold()` after that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, DateTime, Update, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hakutaku.db.models import Lease
from hakutaku.db.session import Database

log = logging.getLogger("hakutaku.db.lease")

_Time = datetime | ColumnElement[datetime]


def new_holder_id() -> str:
    """A name for one holder: the host and process (for people reading the table), made unique
    so that a restarted process never mistakes its predecessor's lease for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class LeaseState:
    """A lease as the database has it now."""

    name: str
    holder: str | None
    term: int
    acquired_at: datetime | None
    expires_at: datetime


def read_lease(s: Session, name: str) -> LeaseState | None:
    """Who holds the lease `name` and until when (None: nobody ever took it)."""
    row = s.get(Lease, name, populate_existing=True)
    if row is None:
        return None
    return LeaseState(row.name, row.holder, row.term, row.acquired_at, row.expires_at)


def _clock(s: Session, ttl: float) -> tuple[_Time, _Time]:
    """`now` and `now + ttl` on the clock every holder of a lease shares."""
    if s.get_bind().dialect.name == "postgresql":
        now = func.clock_timestamp(type_=DateTime(timezone=True))
        return now, now + timedelta(seconds=ttl)
    local = datetime.now(UTC)
    return local, local + timedelta(seconds=ttl)


class LeaseHolder:
    """One process's claim on the lease `name`; safe to call from any thread."""

    def __init__(self, db: Database, name: str, ttl: float, holder_id: str | None = None) -> None:
        if ttl <= 0:
            raise ValueError(f"a lease needs a positive time to live, not {ttl}")
        self.db = db
        self.name = name
        self.ttl = ttl
        self.id = holder_id or new_holder_id()
        self._term: int | None = None  # the term this process holds, as far as it knows
        self._deadline = 0.0  # time.monotonic() until which it may act on it
        self._closed = False
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        """Whether this process holds the lease now (by its own, cautious, reckoning)."""
        return self._term is not None and time.monotonic() < self._deadline

    @property
    def term(self) -> int | None:
        """The term held (it grows by one at every change of holder), or None."""
        return self._term if self.held else None

    def hold(self) -> bool:
        """Take the lease if it is free or expired, or renew it when half its time has gone;
        True while this process holds it. Called every tick of the loop it guards."""
        with self._lock:
            if self._closed:
                return False
            sent = time.monotonic()
            if self._term is not None and self._deadline - sent > self.ttl / 2:
                return True
            with self.db.session() as s:
                term = self._renew_or_take(s)
            if term is None:
                self._term = None
                return False
            if term != self._term:
                log.info("lease %s: taken by %s (term %d)", self.name, self.id, term)
            self._term, self._deadline = term, sent + self.ttl
            return True

    def renew(self, s: Session) -> bool:
        """Renew the lease inside the caller's transaction; False when another holder has taken
        it. A caller writing as the holder commits its writes only on True (fencing)."""
        with self._lock:
            if self._term is None or self._closed:
                return False
            _, until = _clock(s, self.ttl)
            kept = s.scalar(self._mine(self._term).values(expires_at=until).returning(Lease.term))
            if kept is None:
                log.warning("lease %s: lost by %s (term %d)", self.name, self.id, self._term)
                self._term = None
                return False
            return True

    def release(self) -> None:
        """Step down now, so that another process need not wait for the lease to expire."""
        with self._lock:
            self._release()

    def close(self) -> None:
        """Release the lease and never take it again (the process is stopping)."""
        with self._lock:
            self._closed = True
            self._release()

    async def hand_back(self) -> None:
        """`close`, off the event loop, for a stopping service: the next replica takes over at
        its next tick instead of after the lease expires. A failure is logged, not raised:
        the lease then expires by itself."""
        try:
            await asyncio.to_thread(self.close)
        except Exception:
            log.exception("could not release %s; it expires by itself", self.name)

    def state(self) -> LeaseState | None:
        """The lease as the database has it now: who holds it (perhaps another process)."""
        with self.db.session() as s:
            return read_lease(s, self.name)

    # -- statements ------------------------------------------------------------------------------

    def _mine(self, term: int) -> Update:
        """An UPDATE of the lease's row that applies only while this holder has `term`."""
        return (
            update(Lease)
            .where(Lease.name == self.name, Lease.holder == self.id, Lease.term == term)
            .execution_options(synchronize_session=False)
        )

    def _renew_or_take(self, s: Session) -> int | None:
        now, until = _clock(s, self.ttl)
        if self._term is not None:
            kept = s.scalar(self._mine(self._term).values(expires_at=until).returning(Lease.term))
            if kept is not None:
                return int(kept)
            log.warning("lease %s: lost by %s (term %d)", self.name, self.id, self._term)
            self._term = None
        seen = s.execute(
            select(Lease.holder, Lease.expires_at > now).where(Lease.name == self.name)
        ).first()
        if seen is None:
            dialect = s.get_bind().dialect.name
            insert = postgres_insert if dialect == "postgresql" else sqlite_insert
            first = (
                insert(Lease)
                .values(name=self.name, holder=self.id, term=1, acquired_at=now, expires_at=until)
                .on_conflict_do_nothing(index_elements=[Lease.name])
                .returning(Lease.term)
            )
            return s.scalar(first)  # None: another process made the row first
        holder, live = seen
        if holder not in (None, self.id) and live:
            return None  # held by another: nothing to write
        return s.scalar(
            update(Lease)
            .where(
                Lease.name == self.name,
                or_(Lease.holder.is_(None), Lease.holder == self.id, Lease.expires_at <= now),
            )
            .values(holder=self.id, term=Lease.term + 1, acquired_at=now, expires_at=until)
            .returning(Lease.term)
            .execution_options(synchronize_session=False)
        )

    def _release(self) -> None:
        term, self._term = self._term, None
        if term is None:
            return
        with self.db.session() as s:
            now, _ = _clock(s, 0.0)
            s.execute(self._mine(term).values(holder=None, expires_at=now))
        log.info("lease %s: released by %s (term %d)", self.name, self.id, term)

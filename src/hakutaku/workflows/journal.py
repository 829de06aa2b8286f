"""The journal: every task of a campaign, its input hash, state, timings and result folder in
the platform's database, so a campaign killed at any point resumes without redoing a finished
task.

Writes are batched by one thread (a campaign of no-op tasks must not wait for a database write
per task); a result is complete on disk before its task is journaled done, and a resumed
campaign also adopts results that finished after the last batch was written.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from hakutaku.accounting.sql import insert_on_conflict
from hakutaku.db.models import User, WorkflowCampaign, WorkflowTask
from hakutaku.db.session import Database
from hakutaku.workflows import states
from hakutaku.workflows.errors import WorkflowError

FLUSH_SECONDS = 0.05
CANCEL_POLL_SECONDS = 1.0
UPDATABLE = (
    "name",
    "kind",
    "pool",
    "cpus",
    "state",
    "attempts",
    "task_dir",
    "result_ref",
    "error",
    "cpu_seconds",
    "wall_seconds",
    "ended_at",
)
# Fields a task may not have had recorded yet (every other one is named by its first record).
UNSET: dict[str, Any] = {"result_ref": None, "error": "", "ended_at": None}


@dataclass(frozen=True, slots=True)
class Journaled:
    """A task as a previous run of the campaign left it."""

    key: str
    state: str
    task_dir: str
    result_ref: str | None


class Journal:
    """One campaign's rows; `record` queues a task's new state, a thread writes the queue."""

    def __init__(
        self,
        database: Database,
        name: str,
        run_dir: str,
        profile: str,
        user: str | None = None,
    ) -> None:
        self.db = database
        self._rows: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.cancel_requested = threading.Event()
        self._upsert: Any = None  # the batch statement, built on the first flush
        self.campaign_id, self.previous = self._open(name, run_dir, profile, user)
        self._thread = threading.Thread(target=self._loop, name="hai-journal", daemon=True)
        self._thread.start()

    def _open(
        self, name: str, run_dir: str, profile: str, user: str | None
    ) -> tuple[int, dict[str, Journaled]]:
        with self.db.session() as s:
            user_id = None
            if user is not None:
                user_id = s.scalar(select(User.id).where(User.name == user))
                if user_id is None:
                    raise WorkflowError(f"no platform user named {user!r}; create it first")
            row = s.scalar(
                select(WorkflowCampaign).where(
                    WorkflowCampaign.name == name,
                    WorkflowCampaign.user_id.is_(None)
                    if user_id is None
                    else WorkflowCampaign.user_id == user_id,
                )
            )
            if row is None:
                row = WorkflowCampaign(name=name, user_id=user_id, run_dir=run_dir)
                s.add(row)
            elif row.run_dir != run_dir:
                raise WorkflowError(
                    f"campaign {name!r} already ran in {row.run_dir}; resume it there or pick "
                    "another name"
                )
            row.profile = profile
            row.state = states.CAMPAIGN_RUNNING
            row.host = socket.gethostname()
            row.pid = os.getpid()
            row.cancel_requested = False
            row.updated_at = datetime.now(UTC)
            s.flush()
            previous = {
                t.key: Journaled(t.key, t.state, t.task_dir, t.result_ref)
                for t in s.scalars(select(WorkflowTask).where(WorkflowTask.campaign_id == row.id))
            }
            return row.id, previous

    def record(self, key: str, **fields: Any) -> None:
        """Queue the task's new fields (the first record of a key must name every field)."""
        if fields.get("state") in states.FINAL:
            fields.setdefault("ended_at", datetime.now(UTC))
        with self._lock:
            self._rows.setdefault(key, {"key": key}).update(fields)
            self._dirty.add(key)
        self._wake.set()

    def flush(self) -> None:
        with self._lock:
            # A row holds every field recorded for its task so far: what is unset now is
            # unset in the journal too.
            batch = [
                UNSET | self._rows[key] | {"campaign_id": self.campaign_id} for key in self._dirty
            ]
            self._dirty.clear()
        if not batch:
            return
        with self.db.session() as s:
            # One statement, compiled once, executed for the whole batch (executemany): a
            # statement with a VALUES tuple per row is compiled anew for every batch (~165 us
            # a row, more than a no-op task costs Parsl).
            if self._upsert is None:
                insert = insert_on_conflict(s, WorkflowTask.__table__)
                self._upsert = insert.on_conflict_do_update(
                    index_elements=["campaign_id", "key"],
                    set_={c: insert.excluded[c] for c in UPDATABLE},
                )
            s.connection().execute(self._upsert, batch)

    def _loop(self) -> None:
        last_poll = 0.0
        clock = threading.Event()
        while not self._stop.is_set():
            self._wake.wait(CANCEL_POLL_SECONDS)
            self._wake.clear()
            clock.wait(FLUSH_SECONDS)  # gather a batch
            try:
                self.flush()
                now = datetime.now(UTC).timestamp()
                if now - last_poll >= CANCEL_POLL_SECONDS:
                    last_poll = now
                    if self._poll_cancel():
                        self.cancel_requested.set()
            except Exception:  # the database was away: keep the rows, try again next round
                with self._lock:
                    self._dirty.update(self._rows)

    def _poll_cancel(self) -> bool:
        with self.db.session() as s:
            return bool(
                s.scalar(
                    select(WorkflowCampaign.cancel_requested).where(
                        WorkflowCampaign.id == self.campaign_id
                    )
                )
            )

    def close(self, state: str) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()
        with self.db.session() as s:
            s.execute(
                update(WorkflowCampaign)
                .where(WorkflowCampaign.id == self.campaign_id)
                .values(state=state, pid=None, updated_at=datetime.now(UTC))
            )

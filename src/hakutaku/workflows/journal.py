"""The journal: every task of a campaign, its input hash, state, timings and result folder in
the platform's database, so a campaign killed at any point resumes without redoing a finished
task.

Writes are batched by one thread (a campaign of no-op tasks must not wait for a database write
per task); a result is complete on disk before its task is journaled done, and a resumed
campaign also adopts results that finished after the last batch was written. The same thread
beats the campaign's heart about once a second and learns from it whether `hai workflows
cancel` asked the campaign to stop.

Where the rows go is the backend's business: a database this process reaches
(`DatabaseBackend`, the laptop's default) or the platform's `/api/workflows` under the API
key's user (`journal_platform.PlatformBackend`, what `hai workflows run` sets up).
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select

from hakutaku.db.models import User
from hakutaku.db.session import Database
from hakutaku.errors import PlatformError
from hakutaku.workflows import states, store
from hakutaku.workflows.errors import WorkflowError
from hakutaku.workflows.journal_writer import WriterProcess
from hakutaku.workflows.store import Journaled, Opened

FLUSH_SECONDS = 0.05  # rows gathered before a batch is written by this process
# ... or handed to the writer process: it costs this process a pickle, not a write, so the
# batches can be bigger (fewer rows per task: its states in one batch; fewer transactions).
WRITER_FLUSH_SECONDS = 0.2
CANCEL_POLL_SECONDS = 1.0
WRITER_WAIT_SECONDS = 60.0  # for the writer process to write what it was sent, at most
# Fields a task may not have had recorded yet (every other one is named by its first record).
UNSET: dict[str, Any] = {"result_ref": None, "error": "", "ended_at": None}

__all__ = ["DatabaseBackend", "Journal", "JournalBackend", "Journaled"]


class JournalBackend(Protocol):
    """Where a journal's rows go. Each method raises WorkflowError for what the user must fix
    and any other exception for a store that did not answer (the journal tries again)."""

    def open(self, name: str, run_dir: str, profile: str, host: str, pid: int) -> Opened: ...

    def write(self, opened: Opened, rows: list[dict[str, Any]], blocks_are_jobs: bool) -> None: ...

    def heartbeat(self, opened: Opened, blocks_are_jobs: bool) -> bool:
        """Say the steering process is alive; answer whether a cancel was asked for."""
        ...

    def end(self, opened: Opened, state: str) -> None: ...

    def dispose(self) -> None: ...


class DatabaseBackend:
    """The journal in a database this process reaches itself, under the platform user named
    `user` (None: a campaign of no user, as on a laptop without a platform)."""

    def __init__(self, url: str, user: str | None = None) -> None:
        self.db = Database(url)
        self.user = user
        self._blocks_are_jobs: bool | None = None  # as the last heartbeat set it

    def open(self, name: str, run_dir: str, profile: str, host: str, pid: int) -> Opened:
        with self.db.session() as s:
            user_id = None
            if self.user is not None:
                user_id = s.scalar(select(User.id).where(User.name == self.user))
                if user_id is None:
                    raise WorkflowError(f"no platform user named {self.user!r}; create it first")
            try:
                return store.open_run(
                    s,
                    user_id=user_id,
                    name=name,
                    run_dir=run_dir,
                    profile=profile,
                    host=host,
                    pid=pid,
                )
            except PlatformError as exc:
                raise WorkflowError(exc.message) from exc

    def write(self, opened: Opened, rows: list[dict[str, Any]], blocks_are_jobs: bool) -> None:
        with self.db.session() as s:
            store.write_tasks(s, opened.campaign_id, opened.run, rows)
            store.set_blocks_are_jobs(s, opened.campaign_id, blocks_are_jobs)

    def heartbeat(self, opened: Opened, blocks_are_jobs: bool) -> bool:
        with self.db.session() as s:
            if blocks_are_jobs != self._blocks_are_jobs:  # (a statement less a second)
                store.set_blocks_are_jobs(s, opened.campaign_id, blocks_are_jobs)
            cancel = store.heartbeat(s, opened.campaign_id)
        self._blocks_are_jobs = blocks_are_jobs
        return cancel

    def end(self, opened: Opened, state: str) -> None:
        with self.db.session() as s:
            store.end_run(s, opened.campaign_id, state)

    def dispose(self) -> None:
        self.db.dispose()


class Journal:
    """One campaign's rows; `record` queues a task's new state, a thread hands the queue to
    the store: for a database, to the journal's writer process (`journal_writer`), which
    writes it outside this process's GIL; for the platform, to its `/api/workflows`."""

    def __init__(self, backend: JournalBackend, name: str, run_dir: str, profile: str) -> None:
        self.backend = backend
        self._rows: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._send_lock = threading.RLock()  # one sender (and reader of the writer's answers)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.cancel_requested = threading.Event()
        # Set by the campaign once it knows where its blocks come from (see the ledger).
        self.blocks_are_jobs = False
        self.opened = backend.open(name, run_dir, profile, socket.gethostname(), os.getpid())
        self.campaign_id, self.run, self.previous = (
            self.opened.campaign_id,
            self.opened.run,
            self.opened.previous,
        )
        self._writer: WriterProcess | None = None
        if isinstance(backend, DatabaseBackend):
            try:
                self._writer = WriterProcess(backend.db.url)
            except OSError:
                self._writer = None  # the rows are written by this process's thread then
        self._thread = threading.Thread(target=self._loop, name="hai-journal", daemon=True)
        self._thread.start()

    def record(self, key: str, **fields: Any) -> None:
        """Queue the task's new fields (the first record of a key must name every field)."""
        if fields.get("state") in states.FINAL:
            fields.setdefault("ended_at", datetime.now(UTC))
        with self._lock:
            row = self._rows.get(key)
            if row is None:
                self._rows[key] = row = {"key": key}
            row.update(fields)
            self._dirty.add(key)
        if not self._wake.is_set():  # (setting it takes its lock and notifies)
            self._wake.set()

    def flush(self) -> None:
        """Write every row recorded so far; when it returns they are in the store."""
        with self._send_lock:
            self._send()
            writer = self._writer
            if writer is not None and not writer.wait_written(writer.sent, WRITER_WAIT_SECONDS):
                self._lose_writer()
                self._send()

    def _send(self) -> None:
        """Hand the rows changed since the last call to the writer process (it writes them
        soon), or write them here when there is none."""
        with self._send_lock:
            with self._lock:
                # A row holds every field recorded for its task so far: what is unset now is
                # unset in the journal too.
                batch = [UNSET | self._rows[key] for key in self._dirty]
                self._dirty.clear()
            if not batch:
                return
            writer = self._writer
            if writer is not None:
                try:
                    writer.send(self.campaign_id, self.run, batch, self.blocks_are_jobs)
                    return
                except OSError:  # it died: this process writes every row itself from now
                    self._lose_writer()
                    with self._lock:
                        batch = [UNSET | self._rows[key] for key in self._dirty]
                        self._dirty.clear()
            try:
                self.backend.write(self.opened, batch, self.blocks_are_jobs)
            except BaseException:
                with self._lock:  # keep the rows for the next round
                    self._dirty.update(row["key"] for row in batch)
                raise

    def _lose_writer(self) -> None:
        """The writer died or hangs: what it wrote is not known, so every row is written
        again, here (rows are whole, and writing one twice changes nothing)."""
        with self._send_lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.kill()
            with self._lock:
                self._dirty.update(self._rows)

    def _loop(self) -> None:
        last_poll = 0.0
        clock = threading.Event()
        while not self._stop.is_set():
            self._wake.wait(CANCEL_POLL_SECONDS)
            self._wake.clear()
            clock.wait(FLUSH_SECONDS if self._writer is None else WRITER_FLUSH_SECONDS)
            try:
                writer = self._writer
                if writer is not None and not writer.alive():
                    self._lose_writer()
                self._send()
                now = datetime.now(UTC).timestamp()
                if now - last_poll >= CANCEL_POLL_SECONDS:
                    last_poll = now
                    if self.backend.heartbeat(self.opened, self.blocks_are_jobs):
                        self.cancel_requested.set()
            except Exception:  # the store was away: the rows wait for the next round
                pass

    def close(self, state: str) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()
        writer = self._writer
        if writer is not None and not writer.close(WRITER_WAIT_SECONDS):
            self._lose_writer()
            self.flush()
        self.backend.end(self.opened, state)
        self.backend.dispose()

"""Usage events: queued in memory on the request path, written in batches by a background task.

Nothing on the request path touches the database. A flush runs every `flush_interval` seconds
or when `batch_size` events wait, and once more on shutdown, so a graceful stop loses nothing.

Two things must never stall billing:
- The database is down or slow: a failed write keeps the events queued for the next flush. The
  queue is bounded (`max_pending`); past it the oldest events are dropped, counted in `dropped`
  (the `hai_usage_dropped` metric) and logged — never silently.
- One row the database refuses (a value too long, text it cannot encode): the batch is split
  until the refused rows are alone, those are set aside — appended as JSON lines to
  `reject_path` and logged — and every other row is written. Only errors that say the database
  itself is unreachable keep a whole batch queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, update

from hakutaku.db.models import ApiKey, UsageEvent
from hakutaku.db.session import Database

log = logging.getLogger("hakutaku.usage")

DEFAULT_MAX_PENDING = 200_000


@dataclass(slots=True)
class Usage:
    ts: datetime
    request_id: str
    key_id: int | None
    user_id: int | None
    model: str
    method: str
    prompt_tokens: int
    completion_tokens: int
    status: int
    latency_ms: float


class UsageRecorder:
    def __init__(
        self,
        db: Database,
        *,
        flush_interval: float = 1.0,
        batch_size: int = 1000,
        max_pending: int = DEFAULT_MAX_PENDING,
        reject_path: Path | None = None,
        on_dropped: Callable[[int], None] | None = None,
        on_rejected: Callable[[int], None] | None = None,
        take_last_used: Callable[[], dict[int, datetime]] | None = None,
        restore_last_used: Callable[[dict[int, datetime]], None] | None = None,
    ) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_pending = max(1, max_pending)
        self.reject_path = reject_path
        self.on_dropped = on_dropped
        self.on_rejected = on_rejected
        self.take_last_used = take_last_used
        self.restore_last_used = restore_last_used
        self._queue: deque[Usage] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.written = 0
        self.dropped = 0
        self.rejected = 0

    def record(self, event: Usage) -> None:
        """Queue one event; O(1), never blocks. A full queue drops its oldest event."""
        if len(self._queue) >= self.max_pending:
            self._drop(len(self._queue) - self.max_pending + 1)
        self._queue.append(event)
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            batch = list(self._queue)
            self._queue.clear()
            last_used = self.take_last_used() if self.take_last_used else {}
            if not batch and not last_used:
                return
            try:
                refused, unwritten = await asyncio.to_thread(self._write, batch, last_used)
            except Exception:
                log.exception("usage write failed; %d events kept for the next flush", len(batch))
                self._requeue(batch)
                if self.restore_last_used is not None:
                    self.restore_last_used(last_used)
                return
            if unwritten:
                log.error("usage write failed; %d events kept for the next flush", len(unwritten))
                self._requeue(unwritten)
            if refused:
                self._set_aside(refused)
            self.written += len(batch) - len(refused) - len(unwritten)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval)
            self._wake.clear()
            await self.flush()

    # -- bounded queue ------------------------------------------------------------------------

    def _drop(self, n: int) -> None:
        for _ in range(n):
            self._queue.popleft()
        if self.dropped == 0 or (self.dropped + n) // 10_000 > self.dropped // 10_000:
            log.error(
                "usage queue full (HAI_USAGE_MAX_PENDING=%d): dropped the oldest events, %d so "
                "far; the database has not taken writes for a while",
                self.max_pending,
                self.dropped + n,
            )
        self.dropped += n
        if self.on_dropped is not None:
            self.on_dropped(n)

    def _requeue(self, batch: list[Usage]) -> None:
        """Put a batch back in front of what arrived meanwhile, keeping the bound."""
        self._queue.extendleft(reversed(batch))
        if len(self._queue) > self.max_pending:
            self._drop(len(self._queue) - self.max_pending)

    # -- writing (blocking; runs in a thread) -------------------------------------------------

    def _write(
        self, batch: list[Usage], last_used: dict[int, datetime]
    ) -> tuple[list[Usage], list[Usage]]:
        """Write the batch: returns (refused, unwritten) — the events the database refused, to
        set aside, and those not written because it became unreachable, to keep.

        Raises when the database cannot be used at all, so the caller keeps the whole batch.
        """
        with self.db.session() as s:
            for key_id, when in last_used.items():
                s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))
        return self._insert(batch)

    def _insert(self, batch: list[Usage]) -> tuple[list[Usage], list[Usage]]:
        if not batch:
            return [], []
        try:
            with self.db.session() as s:
                s.execute(insert(UsageEvent), [_row(e) for e in batch])
            return [], []
        except Exception as exc:
            if _unreachable(exc):
                return [], batch
            if len(batch) == 1:
                log.error("usage event refused by the database, set aside: %s", _why(exc))
                return batch, []
        # Split until the refused rows are alone; every other row is written.
        half = len(batch) // 2
        refused_a, unwritten_a = self._insert(batch[:half])
        if unwritten_a:  # the database went away: keep the rest without trying it
            return refused_a, unwritten_a + batch[half:]
        refused_b, unwritten_b = self._insert(batch[half:])
        return refused_a + refused_b, unwritten_b

    def _set_aside(self, refused: list[Usage]) -> None:
        self.rejected += len(refused)
        if self.on_rejected is not None:
            self.on_rejected(len(refused))
        if self.reject_path is None:
            for event in refused:
                log.error("usage event refused and not kept (no reject file): %r", event)
            return
        try:
            self.reject_path.parent.mkdir(parents=True, exist_ok=True)
            with self.reject_path.open("a", encoding="ascii") as f:
                for event in refused:
                    # json, not orjson: ASCII escapes keep text that UTF-8 cannot hold
                    f.write(json.dumps(asdict(event), default=str) + "\n")
        except (OSError, TypeError, ValueError):
            log.exception("could not keep %d refused usage events", len(refused))
            for event in refused:
                log.error("usage event refused: %r", event)


def _row(e: Usage) -> dict[str, Any]:
    return {
        "ts": e.ts,
        "request_id": e.request_id,
        "key_id": e.key_id,
        "user_id": e.user_id,
        "model": e.model,
        "method": e.method,
        "prompt_tokens": e.prompt_tokens,
        "completion_tokens": e.completion_tokens,
        "status": e.status,
        "latency_ms": e.latency_ms,
    }


def _unreachable(exc: BaseException) -> bool:
    """Whether the database itself failed (retry everything later), not one of the rows.

    SQLAlchemy says so for lost connections (`connection_invalidated`); OperationalError and
    InterfaceError also cover a server that is down, a locked SQLite file and a full disk.
    """
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)


def _why(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).splitlines()
    return text[0] if text else type(exc).__name__


def now() -> datetime:
    return datetime.now(UTC)

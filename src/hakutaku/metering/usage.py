"""Usage events: queued in memory on the request path, written in batches by a background task.

Nothing on the request path touches the database. A flush runs every `flush_interval` seconds
or when `batch_size` events wait, and once more on shutdown, so a graceful stop loses nothing.
A failed write keeps the events queued and tries again on the next flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update

from hakutaku.db.models import ApiKey, UsageEvent
from hakutaku.db.session import Database

log = logging.getLogger("hakutaku.usage")


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
        take_last_used: Callable[[], dict[int, datetime]] | None = None,
        restore_last_used: Callable[[dict[int, datetime]], None] | None = None,
    ) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.take_last_used = take_last_used
        self.restore_last_used = restore_last_used
        self._queue: list[Usage] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.written = 0

    def record(self, event: Usage) -> None:
        """Queue one event; O(1), never blocks."""
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
            batch, self._queue = self._queue, []
            last_used = self.take_last_used() if self.take_last_used else {}
            if not batch and not last_used:
                return
            try:
                await asyncio.to_thread(self._write, batch, last_used)
            except Exception:
                log.exception("usage write failed; %d events kept for the next flush", len(batch))
                self._queue[:0] = batch
                if self.restore_last_used is not None:
                    self.restore_last_used(last_used)
                return
            self.written += len(batch)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval)
            self._wake.clear()
            await self.flush()

    def _write(self, batch: list[Usage], last_used: dict[int, datetime]) -> None:
        with self.db.session() as s:
            if batch:
                s.execute(
                    UsageEvent.__table__.insert(),
                    [
                        {
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
                        for e in batch
                    ],
                )
            for key_id, when in last_used.items():
                s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))


def now() -> datetime:
    return datetime.now(UTC)

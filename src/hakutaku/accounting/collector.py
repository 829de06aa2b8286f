"""Run `ledger.collect` in the background of a server, every `interval` seconds.

Every replica may run one: collection is idempotent and concurrent runs cannot double-count
(see `ledger`). A failed pass is logged and retried on the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hakutaku.accounting.ledger import CollectCounts, collect
from hakutaku.db.session import Database

log = logging.getLogger("hakutaku.accounting")


class Collector:
    def __init__(self, db: Database, interval: float = 30.0) -> None:
        self.db = db
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.passes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="accounting-collector")

    async def stop(self) -> None:
        """Stop the loop, then collect once more so jobs that just ended are in the ledger."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.collect_now()
        except Exception:
            log.exception("final accounting pass failed; the next start will collect it")

    async def collect_now(self) -> CollectCounts:
        """One pass, off the event loop (the database calls block)."""
        async with self._lock:
            counts = await asyncio.to_thread(self._collect)
            self.passes += 1
            return counts

    def _collect(self) -> CollectCounts:
        with self.db.session() as s:
            return collect(s)

    async def _run(self) -> None:
        while True:
            try:
                counts = await self.collect_now()
                if counts.jobs or counts.job_entries:
                    log.info("accounted %d jobs (%d ledger rows)", counts.jobs, counts.job_entries)
                if counts.workflow_entries:
                    log.info(
                        "accounted %d workflow tasks (%d ledger rows)",
                        counts.workflow_tasks,
                        counts.workflow_entries,
                    )
            except Exception:
                log.exception("accounting pass failed; trying again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)

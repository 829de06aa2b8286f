"""A background loop that runs a blocking `tick` in a thread, every `interval` seconds or at
once when woken (the scheduler after a submit, the deployment controller after a change).

A failed tick is logged and the loop goes on: the next tick tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

log = logging.getLogger("hakutaku.ticker")


class Ticker:
    def __init__(
        self,
        name: str,
        tick: Callable[[], None],
        interval: Callable[[], float],
        *,
        settle: float = 0.0,
        delay: float = 0.0,
    ) -> None:
        """`interval` is asked before each wait (a controller may wait less when a back-off
        ends sooner); `settle` is a pause after each tick, so a burst of wakes is one tick;
        `delay` is a wait before the first tick."""
        self.name = name
        self.tick = tick
        self.interval = interval
        self.settle = settle
        self.delay = delay
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Tick now rather than at the next interval; from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("%s: tick failed; trying again", self.name)
            if self.settle:
                await asyncio.sleep(self.settle)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval())
            self._wake.clear()

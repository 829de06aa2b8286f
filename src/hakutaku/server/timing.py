"""Server-Timing headers: how long the server took for a page and how many SQL statements it
ran (HAI_SERVER_TIMING=1; off by default).

    server-timing: app;dur=12.4, db;dur=3.1;desc="7 queries"

`bench/portal.py` reads them; operators can see them in the browser's network panel. The
query counter is a SQLAlchemy engine event feeding a per-request counter held in a context
variable (the counter object is shared with the threads a request's database work runs in).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class _Count:
    queries: int = 0
    seconds: float = 0.0
    started: float = 0.0


_current: ContextVar[_Count | None] = ContextVar("hai_server_timing", default=None)


def count_queries(engine: Engine) -> None:
    """Count the statements `engine` runs for the request in progress, and their time."""

    def before(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        count = _current.get()
        if count is not None:
            count.queries += 1
            count.started = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        count = _current.get()
        if count is not None and count.started:
            count.seconds += time.perf_counter() - count.started

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        count = _Count()
        token = _current.set(count)
        began = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                spent = (time.perf_counter() - began) * 1000
                header = (
                    f"app;dur={spent:.2f}, db;dur={count.seconds * 1000:.2f};"
                    f'desc="{count.queries} queries"'
                )
                message["headers"] = [
                    *message.get("headers", []),
                    (b"server-timing", header.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            _current.reset(token)

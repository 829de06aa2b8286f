"""Idle culling: stop an app session nobody has used for HAI_APPS_IDLE_MINUTES.

"Used" is what the app itself reports, not what reaches the proxy: an open Jupyter Lab tab
polls its server every few seconds and a terminal's page holds a websocket with pings, so
counting requests would keep every forgotten tab's session alive forever. Instead:

- Jupyter Lab (`api/kernels`): a kernel that is busy counts as active now (a long computation
  prints nothing for hours); otherwise the kernels' last activity (executions and their
  output), or when the session became ready if it has no kernel;
- the Terminal (`activity`): the last key typed, and busy while a command runs in the
  foreground of its shell;
- an operator's app with an `activity_path`: a JSON object with `busy` and `last_activity`.

An app that does not answer, or has no activity path, is never culled. Culled sessions are
cancelled as their owner would (the job's end reads "stopped after being idle").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from sqlalchemy import select

from hakutaku.apps.sessions import APP_PREFIX, AppSessions, Target
from hakutaku.db.models import AppSession, Job
from hakutaku.deploy.service import owner_principal
from hakutaku.errors import PlatformError

if TYPE_CHECKING:
    from hakutaku.apps.proxy import AppProxy

log = logging.getLogger("hakutaku.apps")


def last_use(app: str, document: Any, ready_at: datetime) -> datetime | None:
    """When the app was last used, from its activity document; None while it is busy."""
    if app == "jupyter" and isinstance(document, list):
        if any(k.get("execution_state") == "busy" for k in document):
            return None
        times = [_time(k.get("last_activity")) for k in document]
        return max([t for t in times if t is not None] + [ready_at])
    if isinstance(document, dict):
        if document.get("busy"):
            return None
        found = _time(document.get("last_activity"))
        return max(found, ready_at) if found is not None else ready_at
    raise ValueError(f"unexpected activity document: {document!r:.200}")


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


class Culler:
    def __init__(self, sessions: AppSessions, proxy: AppProxy, idle_minutes: float) -> None:
        self.sessions = sessions
        self.proxy = proxy
        self.idle = timedelta(minutes=idle_minutes)
        # look several times per idle period, at most once every 30 s
        self.interval = max(1.0, min(30.0, self.idle.total_seconds() / 4))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.idle.total_seconds() > 0:
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.pass_once()
            except Exception:
                log.exception("idle culling pass failed")

    async def pass_once(self) -> list[str]:
        """Cull what is idle now; returns the ids culled."""
        candidates = await asyncio.to_thread(self._running)
        now = datetime.now(UTC)
        culled = []
        for session_id, ready_at in candidates:
            if now - ready_at < self.idle:
                continue
            target = await self.proxy.target(session_id, fresh=True)
            if target is None or target.host is None or target.ended is not None:
                continue
            used = await self._last_use(target, ready_at)
            if used is not None and now - used >= self.idle:
                await asyncio.to_thread(self._cull, session_id)
                self.proxy.forget(session_id)
                culled.append(session_id)
        return culled

    async def _last_use(self, target: Target, ready_at: datetime) -> datetime | None:
        spec = target.app
        path = "api/kernels" if spec.name == "jupyter" else spec.activity_path
        if path is None:
            return None
        url = f"{target.origin}{APP_PREFIX}{target.session_id}/{path}"
        name, value = spec.header(target.secret)
        try:
            async with self.proxy.client.get(
                url,
                headers={name.decode(): value.decode()},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as r:
                if r.status != 200:
                    return None
                document = await r.json(content_type=None)
            return last_use(spec.name, document, ready_at)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return None

    def _running(self) -> list[tuple[str, datetime]]:
        with self.sessions.db.session() as s:
            rows = s.execute(
                select(AppSession.id, AppSession.ready_at)
                .join(Job, Job.id == AppSession.job_id)
                .where(
                    Job.state == "running",
                    AppSession.ready_at.is_not(None),
                    AppSession.culled.is_(False),
                )
            ).all()
            return [(sid, ready) for sid, ready in rows if ready is not None]

    def _cull(self, session_id: str) -> None:
        with self.sessions.db.session() as s:
            row = s.get(AppSession, session_id)
            if row is None:
                return
            row.culled = True
            job = s.get(Job, row.job_id)
            assert job is not None
            try:
                self.sessions.compute.cancel(s, owner_principal(s, row.user_id), job.id)
            except PlatformError as exc:  # it ended meanwhile
                log.info("culling %s: %s", session_id, exc.message)
            log.info("app session %s stopped after %s idle", session_id, self.idle)

"""The gateway's per-replica state: registry snapshot, key cache, usage queue, HTTP pools.

It serves /v1 only; the rest of a replica (database, uploads, scheduler, ...) is owned by
`hakutaku.server.replica.Replica`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from hakutaku.config import Settings
from hakutaku.db.session import Database
from hakutaku.gateway.metrics import GatewayMetrics
from hakutaku.gateway.registry import Registry
from hakutaku.gateway.workerclient import WorkerPool
from hakutaku.identity.auth import KeyAuthenticator, Principal
from hakutaku.metering.ratelimit import RateLimiter
from hakutaku.metering.usage import Usage, UsageRecorder, now

log = logging.getLogger("hakutaku.gateway")


# The one label for a model or method name the registry did not resolve.
UNKNOWN = "(unknown)"


@dataclass(slots=True)
class Call:
    """One /v1 request as metering sees it."""

    who: Principal
    model: str
    method: str
    endpoint: str
    request_id: str
    started: float
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Gateway:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        registry: Registry,
        auth: KeyAuthenticator,
        worker_token: str,
    ) -> None:
        self.settings = settings
        self.db = db
        self.registry = registry
        self.auth = auth
        self.worker_token = worker_token
        self.metrics = GatewayMetrics()
        self.limiter = RateLimiter()
        self.usage = UsageRecorder(
            db,
            flush_interval=settings.usage_flush_interval,
            batch_size=settings.usage_batch_size,
            max_pending=settings.usage_max_pending,
            reject_path=settings.usage_reject_path,
            on_dropped=self.metrics.usage_dropped.inc,
            on_rejected=self.metrics.usage_rejected.inc,
            take_last_used=auth.take_last_used,
            restore_last_used=auth.restore_last_used,
        )
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._pools: dict[str, WorkerPool] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.cold_asked: dict[str, float] = {}  # model → when a cold start was last asked for
        # Wakes this replica's deployment controller after a cold start is asked for, so that
        # (when it leads) the replica is submitted now rather than at its next tick.
        self.on_cold_start: Callable[[], None] | None = None

    # -- HTTP pools ---------------------------------------------------------------------------

    def pool_for(
        self, base_url: str, max_connections: int, call_token: str | None = None
    ) -> WorkerPool:
        """The keep-alive connections to one worker, created on first use.

        `call_token` is the secret the worker registered to be called with; only a worker that
        sent none (registered with the global token) is called with the global token."""
        token = call_token or self.worker_token
        key = f"{base_url} {token}"  # a new worker on the same address gets its own pool
        pool = self._pools.get(key)
        if pool is None or pool.closed:
            pool = WorkerPool(
                base_url,
                [("authorization", f"Bearer {token}")],
                max_connections=max_connections,
            )
            self._pools[key] = pool
        else:
            pool.max_connections = max_connections  # follows the worker's max_inflight
        return pool

    def prune_pools(self) -> None:
        """Forget the pools of workers that are gone and have no connection open (every
        registration of a worker gets a pool of its own, so they would pile up)."""
        live = {
            f"{w.url} {w.call_token or self.worker_token}"
            for ws in self.registry.snapshot.workers.values()
            for w in ws
        }
        for key in [k for k, p in self._pools.items() if k not in live and p.open == 0]:
            self._pools.pop(key).close()

    def session_for(self, base_url: str, limit: int = 256) -> aiohttp.ClientSession:
        """One pooled aiohttp client per upstream, created on first use."""
        session = self._sessions.get(base_url)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=limit, keepalive_timeout=60, ttl_dns_cache=300)
            session = aiohttp.ClientSession(
                base_url=None,
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
            self._sessions[base_url] = session
        return session

    # -- metering -----------------------------------------------------------------------------

    def finish(self, call: Call, status: int, code: str | None = None) -> None:
        seconds = time.perf_counter() - call.started
        self.metrics.observe(call.model, call.endpoint, status, seconds, code)
        if call.prompt_tokens or call.completion_tokens:
            self.metrics.count_tokens(call.model, call.prompt_tokens, call.completion_tokens)
        self.usage.record(
            Usage(
                ts=now(),
                request_id=call.request_id,
                key_id=call.who.key_id,
                user_id=call.who.user_id,
                model=call.model,
                method=call.method,
                prompt_tokens=call.prompt_tokens,
                completion_tokens=call.completion_tokens,
                status=status,
                latency_ms=seconds * 1000.0,
            )
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.registry.refresh)
        self.usage.start()
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="registry-refresh"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.usage.stop()
        for session in self._sessions.values():
            await session.close()
        for pool in self._pools.values():
            pool.close()

    async def _refresh_loop(self) -> None:
        period = self.settings.registry_refresh
        reap_every = max(1, round(self.settings.heartbeat_interval / period))
        tick = 0
        while True:
            await asyncio.sleep(period)
            tick += 1
            try:
                if tick % reap_every == 0:
                    await asyncio.to_thread(self.registry.reap)
                await asyncio.to_thread(self.registry.refresh)
                self.prune_pools()
                self._publish_worker_gauge()
                self.metrics.usage_pending.set(self.usage.pending)
            except Exception:
                log.exception("registry refresh failed; keeping the previous snapshot")

    def _publish_worker_gauge(self) -> None:
        for name in self.registry.snapshot.models:
            self.metrics.set_workers(name, len(self.registry.workers(name)))

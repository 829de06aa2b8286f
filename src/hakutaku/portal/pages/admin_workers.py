"""Workers and their health, for admins: every registered worker, and models left without one.

GET /admin/workers        the page; its tables refresh themselves every few seconds (htmx)
GET /admin/workers/live   just the tables (what the page polls)

A worker is live while its last heartbeat is younger than the heartbeat timeout
(HAI_MISSED_HEARTBEATS × HAI_HEARTBEAT_INTERVAL), the rule the gateway routes by. Rows of
silent workers stay until a replica's reaper deletes them; until then they show as not live.
The page reads the database (what GET /api/workers lists), never the workers themselves.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from hakutaku.api.deps import ReplicaDep
from hakutaku.db.models import Model, Worker
from hakutaku.portal.auth import Admin
from hakutaku.portal.pages.admin_common import blocking, live_cutoff
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

MAX_ROWS = 2000  # far more workers than a platform runs; the page stays bounded anyway
REFRESH_SECONDS = 3


def _load(replica: Replica) -> dict[str, Any]:
    cutoff = live_cutoff(replica)
    with replica.db.session() as s:
        workers = list(
            s.scalars(select(Worker).order_by(Worker.model, Worker.registered_at).limit(MAX_ROWS))
        )
        live_models = select(Worker.model).where(Worker.last_heartbeat_at >= cutoff)
        idle = list(
            s.scalars(
                select(Model)
                .where(Model.kind == "worker", Model.name.not_in(live_models))
                .order_by(Model.name)
                .limit(MAX_ROWS)
            )
        )
        rows = [
            {
                "id": w.id,
                "model": w.model,
                "url": w.url,
                "host": w.host,
                "pid": w.pid,
                "max_inflight": w.max_inflight,
                "inflight": w.inflight,
                "served": w.served,
                "methods": sorted(w.methods),
                "registered_at": w.registered_at,
                "last_heartbeat_at": w.last_heartbeat_at,
                "live": w.last_heartbeat_at >= cutoff,
            }
            for w in workers
        ]
        models = [{"name": m.name, "description": m.description, "public": m.public} for m in idle]
    return {
        "workers": rows,
        "live_count": sum(1 for r in rows if r["live"]),
        "idle_models": models,
        "timeout": replica.settings.heartbeat_timeout,
        "refresh": REFRESH_SECONDS,
    }


@router.get("/admin/workers")
async def workers(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    context = await blocking(lambda: _load(replica))
    return render(request, "admin/workers.html", context)


@router.get("/admin/workers/live")
async def workers_live(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    context = await blocking(lambda: _load(replica))
    return render(request, "admin/workers_live.html", context)

"""The admin overview at `/admin`: a few counts, and a link to every admin page.

Each count is one aggregate query (no rows are loaded), so the page stays fast with 100 000
jobs and 1 000 users.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from hakutaku.accounting.periods import current_period
from hakutaku.accounting.prices import list_prices
from hakutaku.api.deps import ReplicaDep
from hakutaku.compute.states import JobState
from hakutaku.db.models import ApiKey, Contribution, Job, Model, User, Worker
from hakutaku.portal.auth import Admin
from hakutaku.portal.pages.admin_common import blocking, live_cutoff
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)


COUNT_CAP = 1000  # beyond this the overview says "1000+": counting further costs, tells little


def capped_count(s: Session, state: str) -> int:
    """Jobs in a state, counted up to COUNT_CAP + 1 (a bounded walk of the state index)."""
    found = select(Job.id).where(Job.state == state).limit(COUNT_CAP + 1).subquery()
    return s.scalar(select(func.count()).select_from(found)) or 0


def _shown(count: int) -> str:
    return f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)


def _counts(s: Session, replica: Replica) -> dict[str, Any]:
    users, disabled, admins = s.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((User.disabled, 1), else_=0)), 0),
            func.coalesce(func.sum(case((User.role == "admin", 1), else_=0)), 0),
        ).select_from(User)
    ).one()
    now = datetime.now(UTC)
    keys = s.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
    )
    active = {st: capped_count(s, st) for st in (JobState.PENDING.value, JobState.RUNNING.value)}
    cutoff = live_cutoff(replica)
    live_models = select(Worker.model).where(Worker.last_heartbeat_at >= cutoff)
    live_workers = s.scalar(
        select(func.count()).select_from(Worker).where(Worker.last_heartbeat_at >= cutoff)
    )
    idle_models = s.scalar(
        select(func.count())
        .select_from(Model)
        .where(Model.kind == "worker", Model.name.not_in(live_models))
    )
    period = current_period()
    contributions = s.scalar(
        select(func.count())
        .select_from(Contribution)
        .where(
            Contribution.since <= period,
            or_(Contribution.until.is_(None), Contribution.until >= period),
        )
    )
    return {
        "users": users,
        "disabled": disabled,
        "admins": admins,
        "keys": keys or 0,
        "pending": _shown(active[JobState.PENDING.value]),
        "running": _shown(active[JobState.RUNNING.value]),
        "live_workers": live_workers or 0,
        "idle_models": idle_models or 0,
        "period": period,
        "prices": len(list_prices(s, period)),
        "contributions": contributions or 0,
    }


@router.get("/admin")
async def overview(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    def load() -> dict[str, Any]:
        with replica.db.session() as s:
            return _counts(s, replica)

    counts = await blocking(load)
    return render(request, "admin/index.html", {"counts": counts})

"""The dashboard at `/`: the cluster now, my jobs, my storage, my charges, announcements.

GET /                  the page
GET /dashboard/quota   my quota bars alone (measuring a home walks its files, so the page
                       loads it after itself instead of waiting for it)

Everything comes from the services /api uses, as the signed-in user: the cluster from the
monitor's in-memory snapshot (no scheduler command, no query), jobs from ComputeService.list,
charges and credit from the monthly statements (with the same read rule as
/api/usage/statements), the quota from the storage service, announcements from their service.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hakutaku import announcements
from hakutaku.accounting.access import readable_scope
from hakutaku.accounting.contributions import credit_hours
from hakutaku.accounting.periods import current_period
from hakutaku.accounting.statements import CreditUse, statement
from hakutaku.api.deps import ReplicaDep
from hakutaku.compute.states import JobState
from hakutaku.db.models import Job
from hakutaku.db.models import User as UserRow
from hakutaku.identity.auth import Principal
from hakutaku.monitoring.cluster import CARD_KINDS, ClusterView
from hakutaku.portal.auth import User, WebUser
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica
from hakutaku.storage.service import QuotaReport

router = APIRouter(include_in_schema=False)

MY_JOBS = 6  # the newest of my active jobs on the dashboard; /jobs has them all
ACTIVE = [JobState.RUNNING.value, JobState.PENDING.value]


@dataclass(frozen=True)
class KindTotal:
    kind: str  # GPU, DCU, NPU
    total: int
    free: int


def card_kinds(view: ClusterView) -> list[KindTotal]:
    """The whole cluster's cards by kind (models summed), in the order gpu, dcu, npu."""
    found = []
    for kind in CARD_KINDS:
        cards = [c for c in view.whole.cards if c.kind == kind]
        if cards:
            found.append(
                KindTotal(kind.upper(), sum(c.total for c in cards), sum(c.free for c in cards))
            )
    return found


@dataclass(frozen=True)
class GroupCredit:
    group: str
    credits: list[CreditUse]


def _group_credit(s: Session, who: Principal, period: str) -> list[GroupCredit]:
    """My groups' credit this month: only groups with contributions read their ledger."""
    groups = sorted(who.groups)
    if not groups:
        return []
    with_credit = sorted({account for account, _ in credit_hours(s, period, groups)})
    found = []
    for group in with_credit:
        user, account = readable_scope(who, None, group)
        found.append(GroupCredit(group, statement(s, period, user=user, account=account).credits))
    return found


def _context(replica: Replica, user: WebUser) -> dict[str, Any]:
    who = user.principal
    period = current_period()
    with replica.db.session() as s:
        jobs = replica.compute.list(s, who, states=ACTIVE, limit=MY_JOBS)
        counts = dict(
            s.execute(
                select(Job.state, func.count())
                .where(Job.user_id == who.user_id, Job.state.in_(ACTIVE))
                .group_by(Job.state)
            ).all()
        )
        mine, _ = readable_scope(who, None, None)
        charges = statement(s, period, user=mine)
        credit = _group_credit(s, who, period)
        notices = announcements.live(s)
    view = replica.monitor.view
    return {
        "view": view,
        "kinds": card_kinds(view),
        "interval": replica.settings.monitor_interval,
        "jobs": jobs,
        "running": int(counts.get(JobState.RUNNING.value, 0)),
        "pending": int(counts.get(JobState.PENDING.value, 0)),
        "charges": charges,
        "credit": credit,
        "announcements": notices,
        "period": period,
    }


@router.get("/")
async def dashboard(request: Request, replica: ReplicaDep, user: User) -> Response:
    context = await asyncio.to_thread(_context, replica, user)
    return render(request, "dashboard.html", context)


@router.get("/dashboard/quota")
async def my_quota(request: Request, replica: ReplicaDep, user: User) -> Response:
    def report() -> QuotaReport:
        with replica.db.session() as s:
            row = s.get(UserRow, user.principal.user_id)
            assert row is not None
            return replica.uploads.storage.quota_report(s, row)

    quota = await asyncio.to_thread(report)
    return render(request, "dashboard/_quota.html", {"quota": quota})

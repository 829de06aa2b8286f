"""`/api/usage`: model-call usage per user, model and method (your own; admins everyone's)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hakutaku.api.deps import caller, db_session
from hakutaku.api.schemas import UsageRow
from hakutaku.db.models import UsageEvent, User
from hakutaku.errors import Forbidden
from hakutaku.identity.auth import Principal
from hakutaku.identity.service import get_user

router = APIRouter(prefix="/api/usage", tags=["usage"])


@router.get("", response_model=list[UsageRow])
def usage(
    user: str | None = None,
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[UsageRow]:
    if not who.is_admin and user not in (None, who.user):
        raise Forbidden("Only admins may read other users' usage.")
    if not who.is_admin:
        user = who.user
    e = UsageEvent
    query = (
        select(
            User.name,
            e.model,
            e.method,
            func.count(),
            func.sum(case((e.status >= 400, 1), else_=0)),
            func.coalesce(func.sum(e.prompt_tokens), 0),
            func.coalesce(func.sum(e.completion_tokens), 0),
            func.avg(e.latency_ms),
        )
        .select_from(e)
        .outerjoin(User, User.id == e.user_id)
        .group_by(User.name, e.model, e.method)
        .order_by(User.name, e.model, e.method)
    )
    if user is not None:
        query = query.where(e.user_id == get_user(s, user).id)
    if model is not None:
        query = query.where(e.model == model)
    if since is not None:
        query = query.where(e.ts >= since)
    if until is not None:
        query = query.where(e.ts < until)
    return [
        UsageRow(
            user=name,
            model=m,
            method=meth,
            calls=calls,
            errors=int(errors or 0),
            prompt_tokens=int(pt),
            completion_tokens=int(ct),
            mean_latency_ms=float(lat or 0.0),
        )
        for name, m, meth, calls, errors, pt, ct, lat in s.execute(query)
    ]

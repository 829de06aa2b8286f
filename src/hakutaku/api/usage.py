"""`/api/usage`: model-call usage per user, model and method (your own; admins everyone's);
per day and model (`/daily`); the ledger per month and resource (`/monthly`).

GET /api/usage           calls, errors, tokens per user, model, method
GET /api/usage/daily     calls, errors, tokens per UTC day and model (yours; admins anyone's)
GET /api/usage/monthly   ledger quantities per month and resource (yours, your groups';
                         admins anyone's), e.g. card- and CPU-hours for a chart
GET /api/usage/deployments  per deployment (yours; admins all): calls served, the replicas'
                         resources and cost, cost per 1 000 calls (all time, or `period`)
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hakutaku.accounting.access import own_calls_scope, readable_scope
from hakutaku.accounting.periods import check_period
from hakutaku.accounting.series import (
    DEFAULT_DAYS,
    DEFAULT_MONTHS,
    MAX_DAYS,
    MAX_MONTHS,
    daily_calls,
    day_range,
    month_range,
    monthly_use,
)
from hakutaku.api.deps import caller, db_session
from hakutaku.api.schemas import UsageRow
from hakutaku.db.models import UsageEvent, User
from hakutaku.deploy import service as deploy_service
from hakutaku.deploy.usage import usage_by_deployment
from hakutaku.errors import Forbidden, PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.identity.service import get_user

router = APIRouter(prefix="/api/usage", tags=["usage"])


class DailyUsageRow(BaseModel):
    day: date = Field(description="The UTC day, YYYY-MM-DD.")
    model: str
    calls: int
    errors: int = Field(description="Calls answered with status 400 or more.")
    prompt_tokens: int
    completion_tokens: int


class MonthlyUsageRow(BaseModel):
    period: str = Field(description="The month, YYYY-MM (UTC).")
    source: str = Field(description="job | model | workflow")
    resource: str = Field(description="cpu, gpu:a800, model:NAME:calls, model:NAME:tokens ...")
    unit: str = Field(description="hour | call | 1k-tokens")
    quantity: Decimal = Field(description="Summed ledger quantity, to a millionth of the unit.")


class DeploymentUsageRow(BaseModel):
    name: str
    owner: str | None
    state: str = Field(description="active | deleting")
    calls: int = Field(description="Calls answered with a status below 400.")
    resources: dict[str, float] = Field(
        description="Ledger quantities of the replicas' ended jobs, e.g. {'cpu (hour)': 0.5}."
    )
    cost: float = Field(description="Those quantities at the prices of their months.")
    currency: str | None
    cost_per_1k_calls: float | None = Field(description="None before the first call.")


@router.get("/deployments", response_model=list[DeploymentUsageRow])
def deployments_usage(
    period: str | None = Query(None, description="A month, YYYY-MM; default: all time."),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[dict[str, Any]]:
    """What each deployment served and what its replicas cost (yours; admins: all)."""
    if period is not None:
        check_period(period)
    return usage_by_deployment(s, deploy_service.listing(s, who), period)


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


@router.get("/daily", response_model=list[DailyUsageRow])
def usage_daily(
    since: datetime | None = Query(
        None, description=f"First instant (UTC if no zone); default {DEFAULT_DAYS} days ago."
    ),
    until: datetime | None = Query(
        None, description=f"End, excluded; default now. At most {MAX_DAYS} days after since."
    ),
    user: str | None = Query(None, description="Whose calls (admins); default yours."),
    model: str | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[DailyUsageRow]:
    """Model calls per UTC day and model: calls, errors, prompt and completion tokens. Yours;
    admins: a `user`'s, or everyone's without it. Days without calls are left out."""
    whose = own_calls_scope(who, user)
    first, end = day_range(since, until)
    user_id = None if whose is None else _user_id(s, who, whose)
    return [
        DailyUsageRow(
            day=row.day,
            model=row.model,
            calls=row.calls,
            errors=row.errors,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
        )
        for row in daily_calls(s, first, end, user_id=user_id, model=model)
    ]


@router.get("/monthly", response_model=list[MonthlyUsageRow])
def usage_monthly(
    since: str | None = Query(
        None, description=f"First month, YYYY-MM; default {DEFAULT_MONTHS - 1} months ago."
    ),
    until: str | None = Query(
        None, description=f"Last month, YYYY-MM, included; default this one (at most {MAX_MONTHS})."
    ),
    user: str | None = None,
    account: str | None = Query(None, description="A group: the jobs billed to it."),
    source: str | None = Query(None, description="job | model | workflow"),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[MonthlyUsageRow]:
    """The ledger per month and resource (`source=job`: card- and CPU-hours). The same
    rights as statements: yours, your groups' (`account`); admins anyone's, or (neither)
    the whole platform's."""
    user, account = readable_scope(who, user, account)
    if source is not None and source not in ("job", "model", "workflow"):
        raise PlatformError(
            f"invalid source {source!r}: choose job, model or workflow", param="source"
        )
    months = month_range(since, until)
    user_id = None if user is None else _user_id(s, who, user)
    return [
        MonthlyUsageRow(
            period=row.period,
            source=row.source,
            resource=row.resource,
            unit=row.unit,
            quantity=row.quantity,
        )
        for row in monthly_use(s, months, user_id=user_id, account=account, source=source)
    ]


def _user_id(s: Session, who: Principal, name: str) -> int:
    return who.user_id if name == who.user else get_user(s, name).id

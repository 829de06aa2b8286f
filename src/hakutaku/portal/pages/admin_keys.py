"""Every API key, for admins: who owns it, when it was made and last used, its rate limit.

GET  /admin/keys                   in use (default), revoked or all; one user's with ?user=
POST /admin/keys/{id}/revoke       revoke (as DELETE /api/keys/{id}); it stops working at once
POST /admin/keys/{id}/rate-limit   its own calls-a-minute limit, empty: the platform's default

Both changes go through the identity service, as PATCH/DELETE /api/keys do, and drop the key
from this replica's key cache (the others follow within HAI_KEY_CACHE_TTL).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from hakutaku.api.deps import ReplicaDep
from hakutaku.db.models import ApiKey, utcnow
from hakutaku.errors import PlatformError
from hakutaku.identity import service
from hakutaku.portal.auth import Admin
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.pages.admin_common import (
    AdminPosting,
    Paging,
    blocking,
    done,
    notice,
    page_number,
)
from hakutaku.portal.security import local_path
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

STATES = ("active", "revoked", "all")
DONE = {
    "key-revoked": N_("The key was revoked: it stops working at once."),
    "key-limit": N_("The key's rate limit is saved."),
}


def _load(replica: Replica, owner: str, state: str, number: int) -> dict[str, Any]:
    with replica.db.session() as s:
        query = select(ApiKey)
        if owner:
            query = query.where(ApiKey.user_id == service.get_user(s, owner).id)
        now = utcnow()
        if state == "active":
            query = query.where(
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            )
        elif state == "revoked":
            query = query.where(ApiKey.revoked_at.is_not(None))
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        paging = Paging(number, total)
        keys = list(
            s.scalars(
                query.options(joinedload(ApiKey.user))
                .order_by(ApiKey.id.desc())
                .offset(paging.offset)
                .limit(paging.size)
            )
        )
        return {"keys": keys, "paging": paging, "now": now}


async def _page(request: Request, replica: Replica, *, status: int = 200, **extra: Any) -> Response:
    owner = (request.query_params.get("user") or "").strip()[:64]
    state = request.query_params.get("state") or "active"
    state = state if state in STATES else "active"
    number = page_number(request.query_params.get("page"))
    try:
        context = await blocking(lambda: _load(replica, owner, state, number))
    except PlatformError as exc:  # an unknown user in the filter
        context = {"keys": [], "paging": Paging(1, 0)}
        extra.setdefault("error", exc.message)
        status = exc.status
    context.update(owner=owner, state=state, notice=notice(request, DONE), **extra)
    return render(request, "admin/keys.html", context, status=status)


@router.get("/admin/keys")
async def keys(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    return await _page(request, replica)


def _back(next_page: str) -> str:
    target = local_path(next_page, "/admin/keys")
    return target if target.startswith("/admin/") else "/admin/keys"


@router.post("/admin/keys/{key_id}/revoke")
async def revoke(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    key_id: int,
    next: Annotated[str, Form()] = "/admin/keys",
) -> Response:
    def run() -> None:
        with replica.db.session() as s:
            row = service.revoke_key(s, str(key_id))
            replica.auth.forget_key(row.id)

    try:
        await blocking(run)
    except PlatformError as exc:
        return await _page(request, replica, status=exc.status, error=exc.message)
    return done(_back(next), "key-revoked")


@router.post("/admin/keys/{key_id}/rate-limit")
async def rate_limit(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    key_id: int,
    rate_limit: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/admin/keys",
) -> Response:
    def run() -> None:
        text = rate_limit.strip()
        try:
            limit = int(text) if text else None
        except ValueError:
            message = _("A rate limit is a whole number of calls a minute, not %(value)r.")
            raise PlatformError(message % {"value": text}, param="rate_limit") from None
        with replica.db.session() as s:
            row = service.set_key_rate_limit(s, str(key_id), limit)
            replica.auth.forget_key(row.id)

    try:
        await blocking(run)
    except PlatformError as exc:
        return await _page(request, replica, status=exc.status, error=exc.message)
    return done(_back(next), "key-limit")

"""Announcements for everyone's dashboard, written by admins.

GET  /admin/announcements                 every announcement (expired ones too) and the form
POST /admin/announcements                 post one (title, text, level, optional end)
POST /admin/announcements/{id}/remove     remove one

The checks are the announcements service's (hakutaku.announcements): a user who is not an
admin is refused there too, whatever the page lets them send.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from hakutaku import announcements
from hakutaku.api.deps import ReplicaDep
from hakutaku.errors import Forbidden, PlatformError
from hakutaku.portal.auth import Admin, PageForbidden, Posting, WebUser
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

DONE = {
    "posted": N_("The announcement is on everyone's dashboard."),
    "removed": N_("The announcement was removed."),
}


async def _page(
    request: Request,
    replica: Replica,
    user: WebUser,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    def rows() -> list[Any]:
        with replica.db.session() as s:
            return announcements.everything(s, user.principal)

    listed = await asyncio.to_thread(rows)
    done = request.query_params.get("done")
    if done in DONE and "notice" not in extra:
        extra["notice"] = _(DONE[done])
    context = {
        "announcements": listed,
        "now": datetime.now(UTC),
        "levels": announcements.LEVELS,
        "max_title": announcements.MAX_TITLE,
        "max_body": announcements.MAX_BODY,
        **extra,
    }
    return render(request, "announcements/page.html", context, status=status)


@router.get("/admin/announcements")
async def announcements_page(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    return await _page(request, replica, user)


def _until(text: str) -> datetime | None:
    """The form's `datetime-local` value, read as UTC (the page says so)."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise PlatformError(
            _("Cannot read the end %(text)r; pick a date and time, or leave it empty.")
            % {"text": text},
            param="expires_at",
        ) from None


@router.post("/admin/announcements")
async def post_announcement(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    level: Annotated[str, Form()] = "info",
    expires_at: Annotated[str, Form()] = "",
) -> Response:
    def store() -> None:
        with replica.db.session() as s:
            announcements.post(s, user.principal, title, body, level, _until(expires_at))

    try:
        await asyncio.to_thread(store)
    except Forbidden as exc:
        raise PageForbidden(exc.message) from None
    except PlatformError as exc:
        form = {"title": title, "body": body, "level": level, "expires_at": expires_at}
        return await _page(request, replica, user, error=exc.message, form=form, status=400)
    return RedirectResponse("/admin/announcements?done=posted", status_code=303)


@router.post("/admin/announcements/{announcement_id}/remove")
async def remove_announcement(
    request: Request, replica: ReplicaDep, user: Posting, announcement_id: int
) -> Response:
    def remove() -> None:
        with replica.db.session() as s:
            announcements.remove(s, user.principal, announcement_id)

    try:
        await asyncio.to_thread(remove)
    except Forbidden as exc:
        raise PageForbidden(exc.message) from None
    except PlatformError as exc:
        return await _page(request, replica, user, error=exc.message, status=exc.status)
    return RedirectResponse("/admin/announcements?done=removed", status_code=303)

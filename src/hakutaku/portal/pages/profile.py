"""The profile page: my password, my browsers (sessions), my API keys, my language.

GET  /profile                      everything about me
POST /profile/password             set or change my password (signs out my other browsers)
POST /profile/keys                 create a key — its secret is shown on this answer only
POST /profile/keys/{id}/revoke     revoke one of my keys
POST /profile/sessions/{id}/revoke sign one of my other browsers out
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.db.models import User
from hakutaku.errors import Forbidden, PlatformError
from hakutaku.identity import service
from hakutaku.identity.passwords import check_password, set_password
from hakutaku.identity.sessions import live_sessions, revoke_session, revoke_user_sessions
from hakutaku.portal.auth import Posting, WebUser
from hakutaku.portal.auth import User as SignedIn
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

DONE = {
    "password": N_("Your password is set. Your other browsers were signed out."),
    "revoked": N_("The key was revoked: it stops working at once."),
    "signed-out": N_("That browser was signed out."),
}


def _context(replica: Replica, user: WebUser) -> dict[str, Any]:
    with replica.db.session() as s:
        row = s.get(User, user.principal.user_id)
        assert row is not None
        keys = [k for k in service.list_keys(s, row.name) if k.revoked_at is None]
        sessions = live_sessions(s, row.id)
        return {
            "me": {
                "name": row.name,
                "email": row.email,
                "role": row.role,
                "groups": sorted(g.name for g in row.groups),
                "has_password": row.password_hash is not None,
                "password_set_at": row.password_set_at,
            },
            "keys": keys,
            "sessions": sessions,
            "this_session": user.session_id,
        }


async def _page(
    request: Request,
    replica: Replica,
    user: WebUser,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    context = await asyncio.to_thread(_context, replica, user)
    done = request.query_params.get("done")
    if done in DONE and "notice" not in extra:
        extra["notice"] = _(DONE[done])
    if request.query_params.get("set_password"):
        extra.setdefault("notice", _("Welcome. Choose a password for your next sign-in."))
    return render(request, "profile.html", {**context, **extra}, status=status)


@router.get("/profile")
async def profile(request: Request, replica: ReplicaDep, user: SignedIn) -> Response:
    return await _page(request, replica, user)


@router.post("/profile/password")
async def change_password(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    new_password: Annotated[str, Form()],
    repeat_password: Annotated[str, Form()],
    current_password: Annotated[str, Form()] = "",
) -> Response:
    if new_password != repeat_password:
        error = _("The two new passwords differ; type the same one twice.")
        return await _page(request, replica, user, error=error, status=400)

    def store() -> None:
        with replica.db.session() as s:
            row = s.get(User, user.principal.user_id)
            assert row is not None
            # A browser signed in by a one-time link has proved itself; others must know the
            # current password, if there is one.
            if (
                row.password_hash
                and user.via != "link"
                and not check_password(row, current_password)
            ):
                raise Forbidden(_("The current password is wrong."), param="current_password")
            set_password(row, new_password)
            revoke_user_sessions(s, row.id, keep=user.session_id)

    try:
        await asyncio.to_thread(store)
    except PlatformError as exc:
        return await _page(request, replica, user, error=exc.message, status=exc.status)
    return RedirectResponse("/profile?done=password", status_code=303)


@router.post("/profile/keys")
async def create_key(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    name: Annotated[str, Form()] = "",
) -> Response:
    def create() -> str:
        with replica.db.session() as s:
            created = service.create_key(
                s, replica.auth.server_secret, user.name, name=name.strip()[:128]
            )
            return created.secret

    try:
        secret = await asyncio.to_thread(create)
    except PlatformError as exc:
        return await _page(request, replica, user, error=exc.message, status=exc.status)
    return await _page(request, replica, user, new_key=secret, status=201)


@router.post("/profile/keys/{key_id}/revoke")
async def revoke_key(request: Request, replica: ReplicaDep, user: Posting, key_id: int) -> Response:
    def revoke() -> None:
        with replica.db.session() as s:
            row = service.get_key(s, str(key_id))
            if row.user_id != user.principal.user_id:
                raise Forbidden(_("That key is not yours."))
            service.revoke_key(s, str(key_id))
            replica.auth.forget_key(row.id)

    try:
        await asyncio.to_thread(revoke)
    except PlatformError as exc:
        return await _page(request, replica, user, error=exc.message, status=exc.status)
    return RedirectResponse("/profile?done=revoked", status_code=303)


@router.post("/profile/sessions/{session_id}/revoke")
async def revoke_browser(replica: ReplicaDep, user: Posting, session_id: int) -> Response:
    def revoke() -> None:
        with replica.db.session() as s:
            revoke_session(s, session_id, user.principal.user_id)

    await asyncio.to_thread(revoke)
    return RedirectResponse("/profile?done=signed-out", status_code=303)

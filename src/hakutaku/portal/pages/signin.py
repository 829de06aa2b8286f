"""Sign-in and sign-out: passwords, single sign-on, one-time links, the language switch.

GET/POST /login            the form; POST checks the password (rate-limited)
POST /logout               this browser; POST /logout/everywhere: every browser of the user
GET  /login/link/{token}   a one-time link (first login of the bootstrap admin, reset)
GET  /auth/sso             start single sign-on; GET /auth/sso/callback finishes it
POST /language             the page language (the user's setting, or a cookie before sign-in)
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from hakutaku.api.deps import ReplicaDep
from hakutaku.db.models import User
from hakutaku.errors import PlatformError
from hakutaku.identity.passwords import check_password
from hakutaku.identity.sessions import (
    SESSION_COOKIE,
    create_session,
    revoke_session,
    revoke_user_sessions,
    use_login_link,
)
from hakutaku.identity.sso import sso_user
from hakutaku.portal import i18n
from hakutaku.portal.auth import MaybeUser, Posting
from hakutaku.portal.i18n import _
from hakutaku.portal.security import (
    CSRF_FIELD,
    PRE_COOKIE,
    PRE_MAX_AGE,
    clear_cookie,
    client_address,
    local_path,
    same_token,
    set_cookie,
    sign,
    unsign,
)
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)


def _lifetime(replica: Replica) -> timedelta:
    return timedelta(hours=replica.settings.portal_session_hours)


def _signed_in_response(
    replica: Replica, request: Request, user: User, via: str, target: str
) -> RedirectResponse:
    """Start a session for `user` (a caller's open database session made `user`)."""
    with replica.db.session() as s:
        fresh = s.get(User, user.id)
        assert fresh is not None
        new = create_session(
            s,
            replica.auth.server_secret,
            fresh,
            via=via,
            lifetime=_lifetime(replica),
            user_agent=request.headers.get("user-agent", ""),
            address=client_address(request),
        )
    response = RedirectResponse(local_path(target), status_code=303)
    secure = replica.settings.secure_cookies
    max_age = int(_lifetime(replica).total_seconds())
    set_cookie(response, SESSION_COOKIE, new.token, max_age=max_age, secure=secure)
    clear_cookie(response, PRE_COOKIE, secure=secure)
    return response


def _login_form(
    request: Request,
    replica: Replica,
    *,
    next_url: str,
    error: str | None = None,
    username: str = "",
    status: int = 200,
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        {
            "form_token": token,
            "next_url": local_path(next_url),
            "error": error,
            "username": username,
            "sso": replica.settings.oidc_display_name if replica.portal.oidc else None,
            "notice": _("You are signed out.") if request.query_params.get("out") else None,
        },
        status=status,
    )
    pre = sign(replica.auth.server_secret, {"csrf": token})
    secure = replica.settings.secure_cookies
    set_cookie(response, PRE_COOKIE, pre, max_age=PRE_MAX_AGE, secure=secure)
    return response


@router.get("/login")
async def login_page(
    request: Request, replica: ReplicaDep, user: MaybeUser, next: str = "/"
) -> Response:
    if user is not None:
        return RedirectResponse(local_path(next), status_code=303)
    return _login_form(request, replica, next_url=next)


@router.post("/login")
async def login(
    request: Request,
    replica: ReplicaDep,
    _user: MaybeUser,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    pre = unsign(replica.auth.server_secret, request.cookies.get(PRE_COOKIE))
    if not same_token(csrf_token, pre.get("csrf")):
        message = _("The sign-in form had expired; please sign in again.")
        return _login_form(request, replica, next_url=next, error=message, status=400)
    name = username.strip()
    keys = (f"user:{name.lower()}", f"addr:{client_address(request)}")
    limiter = replica.portal.limiter
    if (wait := limiter.wait(*keys)) > 0:
        minutes = max(1, round(wait / 60))
        message = _("Too many failed sign-ins. Wait %(minutes)d min and try again.") % {
            "minutes": minutes
        }
        return _login_form(request, replica, next_url=next, error=message, status=429)

    def check() -> User | str | None:
        with replica.db.session() as s:
            user = s.scalar(select(User).where(User.name == name)) if name else None
            if not check_password(user, password):
                return None
            assert user is not None
            return "disabled" if user.disabled else user

    # argon2 takes tens of milliseconds of CPU: not on the event loop
    outcome = await asyncio.to_thread(check)
    if outcome is None:
        limiter.failed(*keys)
        message = _("Wrong user name or password.")
        return _login_form(
            request, replica, next_url=next, error=message, username=name, status=401
        )
    if outcome == "disabled":
        message = _("This account is disabled; ask an admin.")
        return _login_form(request, replica, next_url=next, error=message, status=403)
    assert isinstance(outcome, User)
    limiter.succeeded(keys[0])
    return await asyncio.to_thread(_signed_in_response, replica, request, outcome, "password", next)


@router.post("/logout")
async def logout(replica: ReplicaDep, user: Posting) -> Response:
    def end() -> None:
        with replica.db.session() as s:
            revoke_session(s, user.session_id, user.principal.user_id)

    await asyncio.to_thread(end)
    response = RedirectResponse("/login?out=1", status_code=303)
    clear_cookie(response, SESSION_COOKIE, secure=replica.settings.secure_cookies)
    return response


@router.post("/logout/everywhere")
async def logout_everywhere(replica: ReplicaDep, user: Posting) -> Response:
    def end() -> None:
        with replica.db.session() as s:
            revoke_user_sessions(s, user.principal.user_id)

    await asyncio.to_thread(end)
    response = RedirectResponse("/login?out=1", status_code=303)
    clear_cookie(response, SESSION_COOKIE, secure=replica.settings.secure_cookies)
    return response


@router.get("/login/link/{token}")
async def login_link(request: Request, replica: ReplicaDep, token: str) -> Response:
    def spend() -> User | None:
        with replica.db.session() as s:
            link = use_login_link(s, replica.auth.server_secret, token)
            user = s.get(User, link.user_id) if link is not None else None
            if user is None or user.disabled:
                return None
            s.expunge(user)
            return user

    user = await asyncio.to_thread(spend)
    if user is None:
        message = _("This sign-in link has been used or has expired. Ask an admin for a new one.")
        return _login_form(request, replica, next_url="/", error=message, status=410)
    return await asyncio.to_thread(
        _signed_in_response, replica, request, user, "link", "/profile?set_password=1"
    )


# -- single sign-on -------------------------------------------------------------------------------


def _callback_url(replica: Replica) -> str:
    return f"{replica.settings.server_url}/auth/sso/callback"


@router.get("/auth/sso")
async def sso_start(replica: ReplicaDep, next: str = "/") -> Response:
    provider = replica.portal.oidc
    if provider is None:
        return RedirectResponse("/login", status_code=303)
    started = await provider.start(_callback_url(replica))
    value = {
        "state": started.state,
        "nonce": started.nonce,
        "verifier": started.verifier,
        "next": local_path(next),
    }
    response = RedirectResponse(started.url, status_code=303)
    pre = sign(replica.auth.server_secret, value)
    set_cookie(
        response, PRE_COOKIE, pre, max_age=PRE_MAX_AGE, secure=replica.settings.secure_cookies
    )
    return response


@router.get("/auth/sso/callback")
async def sso_callback(
    request: Request,
    replica: ReplicaDep,
    code: str = "",
    state: str = "",
    error: str = "",
    error_description: str = "",
) -> Response:
    provider = replica.portal.oidc
    pre = unsign(replica.auth.server_secret, request.cookies.get(PRE_COOKIE))
    if provider is None:
        return RedirectResponse("/login", status_code=303)
    if error:
        message = _("Single sign-on was not completed: %(why)s") % {
            "why": error_description or error
        }
        return _login_form(request, replica, next_url="/", error=message, status=401)
    if not code or not same_token(state, pre.get("state")):
        message = _("The single sign-on answer did not match this browser's request; try again.")
        return _login_form(request, replica, next_url="/", error=message, status=400)
    try:
        identity = await provider.finish(
            code, _callback_url(replica), str(pre["verifier"]), str(pre["nonce"])
        )

        def resolve() -> User:
            with replica.db.session() as s:
                user = sso_user(s, identity, create=replica.settings.oidc_create_users)
                s.flush()
                s.expunge(user)
                return user

        user = await asyncio.to_thread(resolve)
    except PlatformError as exc:
        return _login_form(request, replica, next_url="/", error=exc.message, status=exc.status)
    return await asyncio.to_thread(
        _signed_in_response, replica, request, user, "oidc", str(pre.get("next") or "/")
    )


# -- language ---------------------------------------------------------------------------------


@router.post("/language")
async def language(
    replica: ReplicaDep,
    user: MaybeUser,
    locale: Annotated[str, Form()] = "en",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    chosen = locale if locale in i18n.LOCALES else "en"
    response = RedirectResponse(local_path(next), status_code=303)
    if user is not None and same_token(csrf_token, user.csrf):

        def store() -> None:
            with replica.db.session() as s:
                row = s.get(User, user.principal.user_id)
                if row is not None:
                    row.locale = chosen

        await asyncio.to_thread(store)
    # a cookie too, so the sign-in page is in the same language
    response.set_cookie(
        "hai_lang",
        chosen,
        max_age=365 * 86400,
        path="/",
        samesite="lax",
        secure=replica.settings.secure_cookies,
        httponly=True,
    )
    return response

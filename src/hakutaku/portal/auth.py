"""Who is signed in: the session cookie → a WebUser, and the dependencies pages use.

`signed_in` gives the page a WebUser or sends the browser to the sign-in page; `admin_only`
also refuses users who are not admins (403 page); `csrf_checked` refuses a state-changing
request without the session's CSRF token. The WebUser carries a Principal like an API key's,
so pages call the services with exactly the rights the same user has on /api.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Form, Request

from hakutaku.api.deps import ReplicaDep
from hakutaku.db.models import WebSession
from hakutaku.identity.auth import Principal
from hakutaku.identity.sessions import SESSION_COOKIE, find_session, principal_of
from hakutaku.portal import i18n
from hakutaku.portal.security import CSRF_HEADER, same_token
from hakutaku.portal.state import PortalState
from hakutaku.server.replica import Replica


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    session_id: int
    csrf: str
    email: str | None
    locale: str | None
    via: str

    @property
    def name(self) -> str:
        return self.principal.user

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


class SignInRequired(Exception):
    """Raised by `signed_in`: the app answers with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageForbidden(Exception):
    """Raised for a page the user may not open: the app answers with a 403 page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfFailed(Exception):
    """A state-changing request without the right CSRF token: the app answers 403."""


def _web_user(row: WebSession) -> WebUser:
    user = row.user
    return WebUser(principal_of(row), row.id, row.csrf_token, user.email, user.locale, row.via)


def lookup(replica: Replica, token: str) -> WebUser | None:
    """The WebUser of a session token (blocking: runs in a thread)."""
    idle = timedelta(hours=replica.settings.portal_idle_hours)
    with replica.db.session() as s:
        row = find_session(s, replica.auth.server_secret, token, idle)
        return _web_user(row) if row is not None else None


async def current_user(request: Request, replica: ReplicaDep) -> WebUser | None:
    """The signed-in user, or None; also picks the request's language."""
    cached: WebUser | None = getattr(request.state, "web_user", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    user = await asyncio.to_thread(lookup, replica, token) if token else None
    request.state.web_user = user
    i18n.activate(
        i18n.negotiate(
            request.headers.get("accept-language"),
            user.locale if user else request.cookies.get("hai_lang"),
            replica.settings.portal_default_locale,
        )
    )
    return user


async def signed_in(
    request: Request, user: Annotated[WebUser | None, Depends(current_user)]
) -> WebUser:
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return user


async def admin_only(user: Annotated[WebUser, Depends(signed_in)]) -> WebUser:
    if not user.is_admin:
        raise PageForbidden(i18n._("This page is for admins."))
    return user


async def csrf_checked(
    request: Request,
    user: Annotated[WebUser, Depends(signed_in)],
    csrf_token: Annotated[str | None, Form()] = None,
) -> WebUser:
    given = request.headers.get(CSRF_HEADER) or csrf_token
    if not same_token(given, user.csrf):
        raise CsrfFailed()
    return user


def _portal_state(replica: ReplicaDep) -> PortalState:
    return replica.portal


PortalDep = Annotated[PortalState, Depends(_portal_state)]
User = Annotated[WebUser, Depends(signed_in)]
Admin = Annotated[WebUser, Depends(admin_only)]
Posting = Annotated[WebUser, Depends(csrf_checked)]
MaybeUser = Annotated[WebUser | None, Depends(current_user)]

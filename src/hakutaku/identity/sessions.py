"""Signed-in browsers: server-side sessions in the database, and one-time sign-in links.

A session is a random token in an HttpOnly cookie; the database keeps only its HMAC-SHA256
(with the server secret, like API keys), so a leaked table holds no usable session. Each
session has its own CSRF token. Sessions expire (`HAI_PORTAL_SESSION_HOURS` after sign-in,
and after `HAI_PORTAL_IDLE_HOURS` without a page view), can be revoked one by one or all at
once ("sign out everywhere"), and end when their user is disabled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hakutaku.db.models import LoginLink, User, WebSession, utcnow
from hakutaku.db.session import affected_rows
from hakutaku.identity.auth import Principal

SESSION_COOKIE = "hai_session"
SESSION_SCHEME = "hai-session."
LINK_SCHEME = "hai-link."
# last_seen_at is written at most this often, so pages do not write on every view
TOUCH_EVERY = timedelta(minutes=1)


def _digest(server_secret: bytes, token: str) -> str:
    return hmac.new(server_secret, token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class NewSession:
    row: WebSession
    token: str  # for the cookie; never stored


def create_session(
    s: Session,
    server_secret: bytes,
    user: User,
    *,
    via: str,
    lifetime: timedelta,
    user_agent: str = "",
    address: str = "",
) -> NewSession:
    token = SESSION_SCHEME + secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        token_hash=_digest(server_secret, token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        via=via,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        user_agent=user_agent[:255],
        address=address[:64],
    )
    s.add(row)
    s.flush()
    return NewSession(row, token)


def find_session(
    s: Session, server_secret: bytes, token: str, idle: timedelta
) -> WebSession | None:
    """The live session of a cookie's token, else None (unknown, expired, idle, revoked, or
    its user disabled). Notes the visit at most once a minute."""
    if not token.startswith(SESSION_SCHEME) or len(token) > 200:
        return None
    row = s.scalar(select(WebSession).where(WebSession.token_hash == _digest(server_secret, token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + idle <= now or row.user.disabled:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row


def principal_of(row: WebSession) -> Principal:
    """The Principal a signed-in browser acts as: its user's rights, like the user's keys."""
    user = row.user
    return Principal(
        key_id=0,  # not a key; `session_id` says which browser
        user_id=user.id,
        user=user.name,
        role=user.role,
        groups=frozenset(g.name for g in user.groups),
        session_id=row.id,
    )


def revoke_session(s: Session, session_id: int, user_id: int | None = None) -> bool:
    """End one session (of `user_id`, when given); False if there was none to end."""
    query = update(WebSession).where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(WebSession.user_id == user_id)
    return affected_rows(s.execute(query.values(revoked_at=utcnow()))) > 0


def revoke_user_sessions(s: Session, user_id: int, *, keep: int | None = None) -> int:
    """End every session of a user (but `keep`): sign out everywhere, a password change."""
    query = update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(WebSession.id != keep)
    return affected_rows(s.execute(query.values(revoked_at=utcnow())))


def live_sessions(s: Session, user_id: int) -> list[WebSession]:
    now = utcnow()
    return list(
        s.scalars(
            select(WebSession)
            .where(
                WebSession.user_id == user_id,
                WebSession.revoked_at.is_(None),
                WebSession.expires_at > now,
            )
            .order_by(WebSession.last_seen_at.desc())
        )
    )


# -- one-time sign-in links ---------------------------------------------------------------------


def create_login_link(
    s: Session, server_secret: bytes, user: User, purpose: str, lifetime: timedelta
) -> str:
    """A link token that signs `user` in once, before `lifetime` ends; returns the token."""
    token = LINK_SCHEME + secrets.token_urlsafe(32)
    s.add(
        LoginLink(
            token_hash=_digest(server_secret, token),
            user_id=user.id,
            purpose=purpose,
            expires_at=utcnow() + lifetime,
        )
    )
    s.flush()
    return token


def use_login_link(s: Session, server_secret: bytes, token: str) -> LoginLink | None:
    """Spend a link: its row if it was valid (now used up), else None. One conditional
    UPDATE, so two browsers opening the same link cannot both sign in."""
    if not token.startswith(LINK_SCHEME) or len(token) > 200:
        return None
    digest = _digest(server_secret, token)
    now = utcnow()
    spent = s.execute(
        update(LoginLink)
        .where(
            LoginLink.token_hash == digest,
            LoginLink.used_at.is_(None),
            LoginLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if affected_rows(spent) != 1:
        return None
    return s.scalar(select(LoginLink).where(LoginLink.token_hash == digest))

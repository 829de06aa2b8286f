"""Announcements: notices admins write for everyone's dashboard (maintenance, new cards, ...).

Everyone signed in reads the live ones (not expired), newest first; only admins post and
remove them. The checks live here, so the portal's form and any API make the same refusals.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hakutaku.db.models import Announcement
from hakutaku.errors import Forbidden, NotFound, PlatformError
from hakutaku.identity.auth import Principal

LEVELS = ("info", "warning")
MAX_TITLE = 200
MAX_BODY = 4000
LIVE_LIMIT = 5  # what a dashboard shows at most


def live(s: Session, now: datetime | None = None, limit: int = LIVE_LIMIT) -> list[Announcement]:
    """The announcements not yet expired, newest first."""
    now = now or datetime.now(UTC)
    return list(
        s.scalars(
            select(Announcement)
            .where(or_(Announcement.expires_at.is_(None), Announcement.expires_at > now))
            .order_by(Announcement.created_at.desc(), Announcement.id.desc())
            .limit(limit)
        )
    )


def everything(s: Session, who: Principal, limit: int = 200) -> list[Announcement]:
    """Every announcement, expired ones too, newest first (admins)."""
    _admin(who)
    return list(
        s.scalars(
            select(Announcement)
            .order_by(Announcement.created_at.desc(), Announcement.id.desc())
            .limit(limit)
        )
    )


def post(
    s: Session,
    who: Principal,
    title: str,
    body: str = "",
    level: str = "info",
    expires_at: datetime | None = None,
) -> Announcement:
    _admin(who)
    title, body = title.strip(), body.strip()
    if not title:
        raise PlatformError("An announcement needs a title.", param="title")
    if len(title) > MAX_TITLE:
        raise PlatformError(
            f"The title has {len(title)} characters; at most {MAX_TITLE}.", param="title"
        )
    if len(body) > MAX_BODY:
        raise PlatformError(
            f"The text has {len(body)} characters; at most {MAX_BODY}.", param="body"
        )
    if level not in LEVELS:
        raise PlatformError(
            f"Unknown level {level!r}; choose {' or '.join(LEVELS)}.", param="level"
        )
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise PlatformError(
            "The end date is already past; choose a later one, or none.", param="expires_at"
        )
    row = Announcement(
        title=title, body=body, level=level, created_by_id=who.user_id, expires_at=expires_at
    )
    s.add(row)
    s.flush()
    return row


def remove(s: Session, who: Principal, announcement_id: int) -> Announcement:
    _admin(who)
    row = s.get(Announcement, announcement_id)
    if row is None:
        raise NotFound(f"No announcement {announcement_id}; it may have been removed already.")
    s.delete(row)
    s.flush()
    return row


def _admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("Only admins may write or remove announcements.")

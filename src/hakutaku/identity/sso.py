"""Platform users from single sign-on: find, link or create the user of an SSO identity.

An identity is (issuer, subject). Its first sign-in links it to the platform user whose name
the provider's username claim gives (the provider is the operator's: trusted for names), or
creates that user when HAI_OIDC_CREATE_USERS is on. Groups the provider lists are added to the
user's (groups an admin gave are kept). A disabled user cannot sign in this way either.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.db.models import User, UserIdentity, utcnow
from hakutaku.errors import Forbidden, NotFound
from hakutaku.identity.service import add_user, get_or_create_group


@dataclass(frozen=True)
class SsoIdentity:
    issuer: str
    subject: str
    username: str
    email: str | None
    groups: list[str]


def sso_user(s: Session, identity: SsoIdentity, *, create: bool) -> User:
    link = s.scalar(
        select(UserIdentity).where(
            UserIdentity.issuer == identity.issuer, UserIdentity.subject == identity.subject
        )
    )
    if link is not None:
        user = s.get(User, link.user_id)
        assert user is not None
    else:
        user = s.scalar(select(User).where(User.name == identity.username))
        if user is None:
            if not create or not identity.username:
                raise NotFound(
                    f"There is no platform user {identity.username!r} for your sign-in; ask an "
                    "admin to add you (`hai users add`).",
                )
            user = add_user(s, identity.username, email=identity.email)
        link = UserIdentity(
            user_id=user.id, issuer=identity.issuer, subject=identity.subject, email=identity.email
        )
        s.add(link)
    if user.disabled:
        raise Forbidden(f"The user {user.name!r} is disabled; ask an admin.")
    link.last_login_at = utcnow()
    if identity.email and not user.email:
        user.email = identity.email
    have = {g.name for g in user.groups}
    for name in identity.groups:
        if name not in have:
            user.groups.append(get_or_create_group(s, name))
    s.flush()
    return user

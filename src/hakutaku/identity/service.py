"""Users, groups and API keys: the operations behind `hai users|keys` and `/api/users|keys`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.db.models import ApiKey, Group, User, utcnow
from hakutaku.errors import Conflict, NotFound, PlatformError
from hakutaku.identity.keys import KEY_SCHEME, generate_key, hash_key

ROLES = ("admin", "user")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _check_name(kind: str, name: str) -> None:
    if not NAME_RE.match(name):
        raise PlatformError(
            f"invalid {kind} name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            param="name",
        )


def get_user(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}; list users with `hai users list`", param="user")
    return user


def get_or_create_group(s: Session, name: str) -> Group:
    _check_name("group", name)
    group = s.scalar(select(Group).where(Group.name == name))
    if group is None:
        group = Group(name=name)
        s.add(group)
        s.flush()
    return group


def add_user(
    s: Session,
    name: str,
    *,
    role: str = "user",
    email: str | None = None,
    groups: list[str] | None = None,
) -> User:
    _check_name("user", name)
    if role not in ROLES:
        raise PlatformError(
            f"invalid role {role!r}: choose one of {', '.join(ROLES)}", param="role"
        )
    if s.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} already exists", param="name")
    user = User(name=name, role=role, email=email)
    user.groups = [get_or_create_group(s, g) for g in groups or []]
    s.add(user)
    s.flush()
    return user


def set_user_disabled(s: Session, name: str, disabled: bool = True) -> User:
    user = get_user(s, name)
    user.disabled = disabled
    return user


def set_user_groups(s: Session, name: str, groups: list[str]) -> User:
    user = get_user(s, name)
    user.groups = [get_or_create_group(s, g) for g in groups]
    return user


def list_users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.id)))


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    secret: str  # shown once, never stored


def create_key(
    s: Session,
    server_secret: bytes,
    user_name: str,
    *,
    name: str = "",
    expires_at: datetime | None = None,
    rate_limit: int | None = None,
) -> CreatedKey:
    user = get_user(s, user_name)
    if user.disabled:
        raise PlatformError(f"user {user_name!r} is disabled; enable it before creating keys")
    if expires_at is not None and expires_at <= utcnow():
        raise PlatformError("expires_at is in the past; give a future time", param="expires_at")
    check_rate_limit(rate_limit)
    new = generate_key()
    row = ApiKey(
        prefix=new.prefix,
        secret_hash=hash_key(server_secret, new.secret),
        user_id=user.id,
        name=name,
        expires_at=expires_at,
        rate_limit=rate_limit,
    )
    s.add(row)
    s.flush()
    return CreatedKey(row=row, secret=new.secret)


def list_keys(s: Session, user_name: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id)
    if user_name is not None:
        query = query.where(ApiKey.user_id == get_user(s, user_name).id)
    return list(s.scalars(query))


def get_key(s: Session, ident: str) -> ApiKey:
    """A key by its numeric id, its prefix, or its displayed form `hai-<prefix>`."""
    prefix = ident.removeprefix(KEY_SCHEME).split(".", 1)[0].rstrip("…")
    query = select(ApiKey).where(ApiKey.prefix == prefix)
    if ident.isdigit():
        query = select(ApiKey).where(ApiKey.id == int(ident))
    row = s.scalar(query)
    if row is None:
        raise NotFound(f"no API key {ident!r}; list keys with `hai keys list`", param="key")
    return row


def check_rate_limit(rate_limit: int | None) -> int | None:
    if rate_limit is not None and (isinstance(rate_limit, bool) or rate_limit < 1):
        raise PlatformError(
            f"invalid rate_limit {rate_limit!r}: give calls per minute >= 1, or none for the "
            "platform's default",
            param="rate_limit",
        )
    return rate_limit


def set_key_rate_limit(s: Session, ident: str, rate_limit: int | None) -> ApiKey:
    """Give a key its own calls-per-minute limit; None returns it to the platform's default."""
    row = get_key(s, ident)
    row.rate_limit = check_rate_limit(rate_limit)
    s.flush()
    return row


def revoke_key(s: Session, ident: str) -> ApiKey:
    row = get_key(s, ident)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row

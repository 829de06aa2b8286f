"""`/api/me`, `/api/users`, `/api/keys`: identity for admins (and each user's own keys)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from hakutaku.api.deps import AuthDep, SettingsDep, admin, caller, db_session
from hakutaku.api.schemas import (
    CreatedKeyOut,
    KeyIn,
    KeyOut,
    KeyPatch,
    LoginLinkOut,
    PasswordIn,
    UserIn,
    UserOut,
    UserPatch,
)
from hakutaku.db.models import ApiKey, User, utcnow
from hakutaku.errors import Forbidden, PlatformError
from hakutaku.identity import service
from hakutaku.identity.auth import Principal
from hakutaku.identity.passwords import check_password, set_password
from hakutaku.identity.sessions import create_login_link as login_link
from hakutaku.identity.sessions import revoke_user_sessions

router = APIRouter(prefix="/api", tags=["identity"])


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        role=user.role,
        email=user.email,
        disabled=user.disabled,
        groups=sorted(g.name for g in user.groups),
        created_at=user.created_at,
    )


def key_out(row: ApiKey) -> KeyOut:
    return KeyOut(
        id=row.id,
        prefix=row.prefix,
        user=row.user.name,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        rate_limit=row.rate_limit,
    )


@router.get("/me", response_model=UserOut)
def me(
    who: Principal = Depends(caller), s: Session = Depends(db_session, scope="function")
) -> UserOut:
    return user_out(service.get_user(s, who.user))


@router.get("/users", response_model=list[UserOut], dependencies=[Depends(admin)])
def list_users(s: Session = Depends(db_session, scope="function")) -> list[UserOut]:
    return [user_out(u) for u in service.list_users(s)]


@router.post("/users", response_model=UserOut, status_code=201, dependencies=[Depends(admin)])
def add_user(body: UserIn, s: Session = Depends(db_session, scope="function")) -> UserOut:
    user = service.add_user(s, body.name, role=body.role, email=body.email, groups=body.groups)
    return user_out(user)


@router.get("/users/{name}", response_model=UserOut, dependencies=[Depends(admin)])
def get_user(name: str, s: Session = Depends(db_session, scope="function")) -> UserOut:
    return user_out(service.get_user(s, name))


@router.patch("/users/{name}", response_model=UserOut, dependencies=[Depends(admin)])
def patch_user(
    name: str, body: UserPatch, auth: AuthDep, s: Session = Depends(db_session, scope="function")
) -> UserOut:
    user = service.get_user(s, name)
    if body.role is not None:
        if body.role not in service.ROLES:
            raise PlatformError(f"invalid role {body.role!r}: choose admin or user", param="role")
        user.role = body.role
    if body.disabled is not None:
        service.set_user_disabled(s, name, body.disabled)
    if body.groups is not None:
        service.set_user_groups(s, name, body.groups)
    s.flush()
    auth.forget_user(user.id)
    return user_out(user)


@router.put("/users/{name}/password", status_code=204)
def set_user_password(
    name: str,
    body: PasswordIn,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> None:
    """Set a portal password: admins for anyone; a user for themselves, giving the current
    one if they have it. The user's signed-in browsers are signed out."""
    user = service.get_user(s, name)
    if user.id != who.user_id and not who.is_admin:
        raise Forbidden("Only admins may set other users' passwords.")
    own_change = user.id == who.user_id and not who.is_admin and user.password_hash
    if own_change and not check_password(user, body.current_password or ""):
        raise Forbidden("The current password is wrong.", param="current_password")
    set_password(user, body.password)
    revoke_user_sessions(s, user.id)


@router.post(
    "/users/{name}/login-link",
    response_model=LoginLinkOut,
    status_code=201,
    dependencies=[Depends(admin)],
)
def create_login_link(
    name: str,
    settings: SettingsDep,
    auth: AuthDep,
    hours: float = Query(24.0, gt=0, le=24 * 14, description="How long the link works."),
    s: Session = Depends(db_session, scope="function"),
) -> LoginLinkOut:
    """A one-time portal sign-in link for a user (admins): a first login or a reset. It
    signs them in once and asks for a new password."""
    user = service.get_user(s, name)
    lifetime = timedelta(hours=hours)
    token = login_link(s, auth.server_secret, user, "password-reset", lifetime)
    return LoginLinkOut(
        url=f"{settings.server_url}/login/link/{token}", expires_at=utcnow() + lifetime
    )


@router.get("/keys", response_model=list[KeyOut])
def list_keys(
    user: str | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[KeyOut]:
    """Your own keys; admins may name any user, or omit it to see all keys."""
    if not who.is_admin:
        if user not in (None, who.user):
            raise Forbidden("Only admins may list other users' keys.")
        user = who.user
    return [key_out(k) for k in service.list_keys(s, user)]


@router.post("/keys", response_model=CreatedKeyOut, status_code=201)
def create_key(
    body: KeyIn,
    auth: AuthDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> CreatedKeyOut:
    """Create a key (for yourself; admins for anyone). The secret is in this response only."""
    owner = body.user or who.user
    if owner != who.user and not who.is_admin:
        raise Forbidden("Only admins may create keys for other users.")
    if body.rate_limit is not None and not who.is_admin:
        raise Forbidden("Only admins may give a key its own rate limit.")
    secret = auth.server_secret
    created = service.create_key(
        s, secret, owner, name=body.name, expires_at=body.expires_at, rate_limit=body.rate_limit
    )
    return CreatedKeyOut(**key_out(created.row).model_dump(), key=created.secret)


@router.patch("/keys/{key}", response_model=KeyOut, dependencies=[Depends(admin)])
def patch_key(
    key: str, body: KeyPatch, auth: AuthDep, s: Session = Depends(db_session, scope="function")
) -> KeyOut:
    """Set a key's own rate limit (admins); it applies on this server at once."""
    row = service.set_key_rate_limit(s, key, body.rate_limit)
    auth.forget_key(row.id)
    return key_out(row)


@router.delete("/keys/{key}", response_model=KeyOut)
def revoke_key(
    key: str,
    auth: AuthDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> KeyOut:
    """Revoke a key by id or prefix; it stops working at once on this server."""
    row = service.get_key(s, key)
    if row.user_id != who.user_id and not who.is_admin:
        raise Forbidden("Only admins may revoke other users' keys.")
    service.revoke_key(s, key)
    auth.forget_key(row.id)
    return key_out(row)

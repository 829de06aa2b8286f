"""Users, for admins: the list (search, pages), adding people, and one user's page.

GET  /admin/users                         search by name or e-mail, filter by role and state
POST /admin/users                         add a user (then their page)
GET  /admin/users/{name}                  groups, role, state, quota, password, keys, browsers
POST /admin/users/{name}/groups           replace the user's groups
POST /admin/users/{name}/role             admin | user
POST /admin/users/{name}/disabled         disable (1) or enable (0)
POST /admin/users/{name}/quota            storage limits (bytes: 500G; files); .../quota/reset
POST /admin/users/{name}/password         set a password (their browsers are signed out)
POST /admin/users/{name}/login-link       a one-time sign-in link, shown on this answer only
POST /admin/users/{name}/sessions/{id}/revoke   sign one of their browsers out

The changes are the ones `/api/users`, `/api/files/quota` and `/api/users/{name}/login-link`
make, through the same identity and storage services, with the same refusals.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from hakutaku.api.deps import ReplicaDep
from hakutaku.db.models import ApiKey, User, utcnow
from hakutaku.errors import PlatformError
from hakutaku.identity import service
from hakutaku.identity.passwords import set_password
from hakutaku.identity.sessions import (
    create_login_link,
    live_sessions,
    revoke_session,
    revoke_user_sessions,
)
from hakutaku.portal.auth import Admin, WebUser
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.pages.admin_common import (
    AdminPosting,
    Paging,
    blocking,
    done,
    names_from,
    notice,
    page_number,
)
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica
from hakutaku.storage.quota import parse_size

router = APIRouter(include_in_schema=False)

LINK_HOURS = (1, 24, 72, 168, 336)  # the choices offered; the API allows up to 14 days
ROLE_FILTERS = ("admin", "user")
STATE_FILTERS = ("active", "disabled")

DONE = {
    "added": N_("The user was added. Give them a sign-in link or a password."),
    "groups": N_("The groups are saved."),
    "role": N_("The role is saved; it applies to their keys and browsers at once."),
    "disabled": N_("The user is disabled: their keys and browsers stop working."),
    "enabled": N_("The user is enabled again."),
    "quota": N_("The storage quota is saved."),
    "quota-reset": N_("The storage quota is back to the platform's default."),
    "password": N_("The password is set; the user's browsers were signed out."),
    "signed-out": N_("That browser was signed out."),
    "key-revoked": N_("The key was revoked: it stops working at once."),
    "key-limit": N_("The key's rate limit is saved."),
}


def exact_size(n: int) -> str:
    """A size as the quota field takes it back without rounding: 500G, 1536K, or bytes."""
    for suffix, power in (("T", 4), ("G", 3), ("M", 2), ("K", 1)):
        if n and n % 1024**power == 0:
            return f"{n // 1024**power}{suffix}"
    return str(n)


# -- the list -------------------------------------------------------------------------------------


def _list(s: Session, q: str, role: str, state: str, number: int) -> dict[str, Any]:
    query = select(User)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            or_(func.lower(User.name).like(pattern), func.lower(User.email).like(pattern))
        )
    if role in ROLE_FILTERS:
        query = query.where(User.role == role)
    if state in STATE_FILTERS:
        query = query.where(User.disabled.is_(state == "disabled"))
    total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
    paging = Paging(number, total)
    users = list(
        s.scalars(
            query.options(selectinload(User.groups))
            .order_by(User.name)
            .offset(paging.offset)
            .limit(paging.size)
        )
    )
    # the keys in use of the users on this page, in one query
    now = utcnow()
    ids = [u.id for u in users]
    keys = (
        dict(
            s.execute(
                select(ApiKey.user_id, func.count())
                .where(
                    ApiKey.user_id.in_(ids),
                    ApiKey.revoked_at.is_(None),
                    or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
                )
                .group_by(ApiKey.user_id)
            ).all()
        )
        if ids
        else {}
    )
    rows = [
        {
            "name": u.name,
            "email": u.email,
            "role": u.role,
            "disabled": u.disabled,
            "groups": sorted(g.name for g in u.groups),
            "keys": keys.get(u.id, 0),
            "created_at": u.created_at,
            "has_password": u.password_hash is not None,
        }
        for u in users
    ]
    return {"users": rows, "paging": paging}


async def _list_page(
    request: Request, replica: Replica, *, status: int = 200, **extra: Any
) -> Response:
    params = request.query_params
    q = (params.get("q") or "").strip()[:64]
    role = params.get("role") or ""
    state = params.get("state") or ""
    number = page_number(params.get("page"))

    def load() -> dict[str, Any]:
        with replica.db.session() as s:
            return _list(s, q, role, state, number)

    context = await blocking(load)
    context.update(q=q, role=role, state=state, roles=service.ROLES, notice=notice(request, DONE))
    context.update(extra)
    # the search box asks for the table only; a history restore (back button) needs the page
    headers = request.headers
    table_only = headers.get("hx-target") == "users-table" and not headers.get(
        "hx-history-restore-request"
    )
    template = "admin/users_table.html" if table_only else "admin/users.html"
    return render(request, template, context, status=status)


@router.get("/admin/users")
async def users(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    return await _list_page(request, replica)


@router.post("/admin/users")
async def add_user(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "user",
    groups: Annotated[str, Form()] = "",
) -> Response:
    name = name.strip()

    def add() -> None:
        with replica.db.session() as s:
            service.add_user(
                s, name, role=role, email=email.strip() or None, groups=names_from(groups)
            )

    try:
        await blocking(add)
    except PlatformError as exc:
        form = {"name": name, "email": email, "role": role, "groups": groups}
        return await _list_page(request, replica, status=exc.status, error=exc.message, form=form)
    return done(f"/admin/users/{name}", "added")


# -- one user -------------------------------------------------------------------------------------


def _user_context(replica: Replica, name: str) -> dict[str, Any]:
    with replica.db.session() as s:
        row = service.get_user(s, name)
        storage = replica.uploads.storage
        quota = storage.quota_report(s, row)
        keys = list(
            s.scalars(select(ApiKey).where(ApiKey.user_id == row.id).order_by(ApiKey.id.desc()))
        )
        return {
            "person": {
                "name": row.name,
                "email": row.email,
                "role": row.role,
                "disabled": row.disabled,
                "groups": sorted(g.name for g in row.groups),
                "created_at": row.created_at,
                "has_password": row.password_hash is not None,
                "password_set_at": row.password_set_at,
            },
            "quota": quota,
            "quota_bytes_text": exact_size(quota.limits.max_bytes),
            "quota_defaults": storage.defaults,
            "keys": keys,
            "sessions": live_sessions(s, row.id),
            "now": utcnow(),
        }


async def _user_page(
    request: Request,
    replica: Replica,
    admin: WebUser,
    name: str,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    try:
        context = await blocking(lambda: _user_context(replica, name))
    except PlatformError as exc:
        values = {"title": _("No such user"), "message": exc.message}
        return render(request, "error.html", values, status=exc.status)
    context.update(link_hours=LINK_HOURS, roles=service.ROLES, is_me=name == admin.name, **extra)
    context.setdefault("notice", notice(request, DONE))
    return render(request, "admin/user.html", context, status=status)


@router.get("/admin/users/{name}")
async def user_page(request: Request, replica: ReplicaDep, user: Admin, name: str) -> Response:
    return await _user_page(request, replica, user, name)


async def _change(
    request: Request,
    replica: Replica,
    admin: WebUser,
    name: str,
    change: Any,
    code: str,
    form: dict[str, str] | None = None,
) -> Response:
    """Run one change of a user; its refusal is shown on the user's page, with what was
    typed (`form`) kept."""

    def run() -> None:
        with replica.db.session() as s:
            row = service.get_user(s, name)
            change(s, row)
            s.flush()
            replica.auth.forget_user(row.id)  # role, groups, state: at once on this replica

    try:
        await blocking(run)
    except PlatformError as exc:
        return await _user_page(
            request, replica, admin, name, status=exc.status, error=exc.message, form=form or {}
        )
    return done(f"/admin/users/{name}", code)


@router.post("/admin/users/{name}/groups")
async def set_groups(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    name: str,
    groups: Annotated[str, Form()] = "",
) -> Response:
    def change(s: Session, row: User) -> None:
        service.set_user_groups(s, row.name, names_from(groups))

    return await _change(request, replica, admin, name, change, "groups", {"groups": groups})


@router.post("/admin/users/{name}/role")
async def set_role(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    name: str,
    role: Annotated[str, Form()] = "",
) -> Response:
    def change(s: Session, row: User) -> None:
        if role not in service.ROLES:
            raise PlatformError(f"invalid role {role!r}: choose admin or user", param="role")
        if row.name == admin.name and role != "admin":
            # the portal's own guard: an admin cannot lock themselves out from here
            raise PlatformError(_("You cannot take away your own admin role."))
        row.role = role

    return await _change(request, replica, admin, name, change, "role")


@router.post("/admin/users/{name}/disabled")
async def set_disabled(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    name: str,
    disabled: Annotated[str, Form()] = "1",
) -> Response:
    off = disabled == "1"

    def change(s: Session, row: User) -> None:
        if off and row.name == admin.name:
            raise PlatformError(_("You cannot disable your own account."))
        service.set_user_disabled(s, row.name, off)
        if off:
            # a disabled user's browsers stay signed out when they are enabled again
            revoke_user_sessions(s, row.id)

    return await _change(request, replica, admin, name, change, "disabled" if off else "enabled")


@router.post("/admin/users/{name}/quota")
async def set_quota(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    name: str,
    max_bytes: Annotated[str, Form()] = "",
    max_files: Annotated[str, Form()] = "",
) -> Response:
    def change(s: Session, row: User) -> None:
        try:
            limit_bytes = parse_size(max_bytes.strip()) if max_bytes.strip() else None
        except ValueError as exc:
            raise PlatformError(str(exc), param="max_bytes") from None
        try:
            limit_files = int(max_files.strip()) if max_files.strip() else None
        except ValueError:
            message = _("The number of files must be a whole number, not %(value)r.") % {
                "value": max_files
            }
            raise PlatformError(message, param="max_files") from None
        replica.uploads.storage.set_quota(s, row, limit_bytes, limit_files)

    form = {"max_bytes": max_bytes, "max_files": max_files}
    return await _change(request, replica, admin, name, change, "quota", form)


@router.post("/admin/users/{name}/quota/reset")
async def reset_quota(
    request: Request, replica: ReplicaDep, admin: AdminPosting, name: str
) -> Response:
    def change(s: Session, row: User) -> None:
        replica.uploads.storage.reset_quota(s, row)

    return await _change(request, replica, admin, name, change, "quota-reset")


@router.post("/admin/users/{name}/password")
async def set_user_password(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    name: str,
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
) -> Response:
    def change(s: Session, row: User) -> None:
        if new_password != repeat_password:
            raise PlatformError(_("The two passwords differ; type the same one twice."))
        set_password(row, new_password)
        revoke_user_sessions(s, row.id)

    return await _change(request, replica, admin, name, change, "password")


@router.post("/admin/users/{name}/login-link")
async def make_login_link(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    name: str,
    hours: Annotated[str, Form()] = "24",
) -> Response:
    def make() -> tuple[str, Any]:
        try:
            lifetime = float(hours)
        except ValueError:
            lifetime = 0.0
        if not 0 < lifetime <= 24 * 14:
            raise PlatformError(_("A sign-in link works for 1 hour to 14 days."), param="hours")
        with replica.db.session() as s:
            row = service.get_user(s, name)
            if row.disabled:
                # the link would be refused when opened: say so now, not to the user later
                raise PlatformError(
                    _(
                        "%(name)s is disabled: enable them first; a link does not sign in a "
                        "disabled user."
                    )
                    % {"name": row.name}
                )
            token = create_login_link(
                s, replica.auth.server_secret, row, "password-reset", timedelta(hours=lifetime)
            )
        url = f"{replica.settings.server_url}/login/link/{token}"
        return url, utcnow() + timedelta(hours=lifetime)

    try:
        url, expires = await blocking(make)
    except PlatformError as exc:
        return await _user_page(request, replica, admin, name, status=exc.status, error=exc.message)
    # shown on this answer only: the database keeps just its hash
    return await _user_page(
        request, replica, admin, name, status=201, new_link=url, link_expires=expires
    )


@router.post("/admin/users/{name}/sessions/{session_id}/revoke")
async def sign_out_browser(
    request: Request, replica: ReplicaDep, admin: AdminPosting, name: str, session_id: int
) -> Response:
    def change(s: Session, row: User) -> None:
        revoke_session(s, session_id, row.id)

    return await _change(request, replica, admin, name, change, "signed-out")

"""The file manager: browse the home and the public area, upload, download, rename, delete,
new folders, and the quota bar.

GET  /files?area=&path=&sort=&order=&page=   a folder (full page; htmx gets the browser alone)
GET  /files/quota                            the quota bar (loaded by htmx after the page)
POST /files/folders                          new folder      {area, folder, name}
POST /files/rename                           rename or move  {area, folder, path, new_name}
POST /files/delete                           delete          {area, folder, path, recursive}

Every action goes through the storage service as the signed-in user, with the same area and
permission checks (and refusal texts) as /api/files. Uploads are made by static/js/files.js
straight against the chunked /api/files/uploads API with the session cookie; this module only
renders what they need (the unfinished uploads, translated messages).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.db.models import User as UserRow
from hakutaku.errors import PlatformError
from hakutaku.portal.auth import Posting, User, WebUser
from hakutaku.portal.formatting import when
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.templating import SECURITY_HEADERS, render
from hakutaku.server.replica import Replica
from hakutaku.storage.quota import format_size
from hakutaku.storage.service import Entry, QuotaReport

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
SORTS = ("name", "size", "modified")
AREA_LABELS = {"home": N_("My files"), "public": N_("Public data")}

# The page hashes uploads with hash-wasm, which compiles WebAssembly: this page alone may
# (wasm-unsafe-eval allows WebAssembly compilation only, never JavaScript's eval).
CSP = SECURITY_HEADERS["content-security-policy"].replace(
    "script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'"
)

# Texts the page's JavaScript shows, translated when the page is made; %(name)s placeholders
# are filled in by files.js.
SCRIPT_MESSAGES = {
    "queued": N_("Waiting"),
    "checking": N_("Computing the checksum: %(percent)s"),
    "starting": N_("Starting"),
    "uploading": N_("Uploading"),
    "finishing": N_("Verifying the checksum on the server"),
    "done": N_("Uploaded"),
    "failed": N_("Failed: %(why)s"),
    "refused": N_("Refused: %(why)s"),
    "cancelled": N_("Cancelled"),
    "retrying": N_("Connection lost; retrying in %(seconds)s s"),
    "resumed": N_("Resumed at %(done)s (received before)"),
    "progress": N_("%(done)s of %(total)s"),
    "speed": N_("%(speed)s/s"),
    "left": N_("%(time)s left"),
    "cancel": N_("Cancel"),
    "cancel_name": N_("Cancel upload of %(name)s"),
    "replace": N_("Replace"),
    "replace_name": N_("Replace the existing %(name)s"),
    "progress_name": N_("Progress of %(name)s"),
    "seconds": N_("%(s)s s"),
    "minutes": N_("%(m)s min %(s)s s"),
    "hours": N_("%(h)s h %(m)s min"),
    "not_same_file": N_(
        "%(name)s is not the file of this unfinished upload: it has %(size)s, the upload %(total)s."
    ),
    "read_only": N_("You cannot upload into this area."),
    "leave": N_(
        "Uploads are in progress. If you leave, choose the same files again later to resume."
    ),
    "network": N_("the server could not be reached"),
    "in_public": N_("Public data: %(path)s"),
    "summary": N_("%(done)s of %(total)s uploaded"),
}


@dataclass(frozen=True)
class View:
    """What the browser shows: an area, a folder in it, an order and a page."""

    area: str = "home"
    path: str = ""
    sort: str = "name"
    order: str = "asc"
    page: int = 1

    @classmethod
    def of(
        cls, area: str | None, path: str | None, sort: str | None, order: str | None, page: Any
    ) -> View:
        try:
            number = max(1, int(page or 1))
        except (TypeError, ValueError):
            number = 1
        return cls(
            area=area if area in AREA_LABELS else "home",
            path=(path or "").strip("/"),
            sort=sort if sort in SORTS else "name",
            order="desc" if order == "desc" else "asc",
            page=number,
        )

    def url(self, **changes: Any) -> str:
        view = replace(self, **changes)
        query: dict[str, Any] = {"area": view.area}
        if view.path:
            query["path"] = view.path
        if view.sort != "name" or view.order != "asc":
            query.update(sort=view.sort, order=view.order)
        if view.page > 1:
            query["page"] = view.page
        return "/files?" + urlencode(query)

    def sort_url(self, column: str) -> str:
        order = "desc" if column == self.sort and self.order == "asc" else "asc"
        return self.url(sort=column, order=order, page=1)


@dataclass(frozen=True, slots=True)
class Row:
    """One entry as the listing shows it, its texts made here rather than in the template."""

    entry: Entry
    href: str  # a folder's view, a file's download
    size: str
    modified: str
    iso: str
    download_label: str
    rename_label: str
    delete_label: str


def rows_of(entries: list[Entry], view: View) -> list[Row]:
    download, rename, delete = _("Download %(name)s"), _("Rename %(name)s"), _("Delete %(name)s")
    rows = []
    for e in entries:
        name = {"name": e.name}
        if e.type == "dir":
            href = View(view.area, e.path, view.sort, view.order).url()
        else:
            href = download_url(view.area, e.path)
        rows.append(
            Row(
                entry=e,
                href=href,
                size=format_size(e.size) if e.type == "file" else "—",
                modified=when(e.modified),
                iso=e.modified.isoformat(),
                download_label=download % name,
                rename_label=rename % name,
                delete_label=delete % name,
            )
        )
    return rows


def download_url(area: str, path: str) -> str:
    return f"/api/files/{area}/{quote(path, safe='/')}"


def breadcrumbs(view: View) -> list[tuple[str, str]]:
    """(label, url) from the area's top down to the folder shown."""
    crumbs = [(_(AREA_LABELS[view.area]), View(view.area).url())]
    parts = PurePosixPath(view.path).parts if view.path else ()
    for i, part in enumerate(parts):
        crumbs.append((part, View(view.area, "/".join(parts[: i + 1])).url()))
    return crumbs


def sorted_entries(entries: list[Entry], sort: str, order: str) -> list[Entry]:
    """Folders first (in both orders), then by the column; names break ties."""
    reverse = order == "desc"
    keys = {
        "name": lambda e: (e.name.casefold(), e.name),
        "size": lambda e: (e.size, e.name.casefold()),
        "modified": lambda e: (e.modified, e.name.casefold()),
    }
    folders = sorted((e for e in entries if e.type == "dir"), key=keys[sort], reverse=reverse)
    others = sorted((e for e in entries if e.type != "dir"), key=keys[sort], reverse=reverse)
    return folders + others


def is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request")) and not request.headers.get(
        "hx-history-restore-request"
    )


# -- building the page ---------------------------------------------------------------------------


def browser_context(replica: Replica, user: WebUser, view: View) -> dict[str, Any]:
    """The folder's entries as the user may see them (blocking: file system work)."""
    storage = replica.uploads.storage
    context: dict[str, Any] = {
        "view": view,
        "crumbs": breadcrumbs(view),
        "areas": [(area, _(label), View(area).url()) for area, label in AREA_LABELS.items()],
        "can_write": view.area == "home" or storage.may_write_public(user.principal),
        "rows": [],
        "total": 0,
        "pages": 1,
        "missing": None,
    }
    with replica.db.session() as s:
        where = storage.area(s, user.principal, view.area, write=False)
    try:
        kind, entries = storage.listing(where, view.path)
    except PlatformError as exc:
        context.update(missing=exc.message, missing_status=exc.status)
        return context
    if kind == "file":  # a file's address shows the folder it is in
        context["file_parent"] = str(PurePosixPath(view.path).parent).strip(".")
        return context
    ordered = sorted_entries(entries, view.sort, view.order)
    pages = max(1, -(-len(ordered) // PAGE_SIZE))
    page = min(view.page, pages)
    start = (page - 1) * PAGE_SIZE
    context.update(
        rows=rows_of(ordered[start : start + PAGE_SIZE], view),
        total=len(ordered),
        pages=pages,
        first=start + 1,
        last=min(start + PAGE_SIZE, len(ordered)),
        view=replace(view, page=page),
    )
    return context


def unfinished_uploads(replica: Replica, user: WebUser) -> list[dict[str, Any]]:
    uploads = replica.uploads
    with replica.db.session() as s:
        return [
            {
                "id": row.id,
                "area": row.area,
                "path": row.path,
                "name": PurePosixPath(row.path).name,
                "size": row.size,
                "received": uploads.received(row),
                "updated_at": row.updated_at,
            }
            for row in uploads.open_uploads(s, user.principal)
        ]


def script_messages() -> dict[str, str]:
    return {key: _(text) for key, text in SCRIPT_MESSAGES.items()}


def respond(
    request: Request,
    context: dict[str, Any],
    *,
    status: int = 200,
    full: dict[str, Any] | None = None,
) -> Response:
    """The browser part alone for htmx, else the whole page (`full` adds what only it shows)."""
    if is_htmx(request):
        response = render(request, "files/_browser.html", context, status)
    else:
        context = {**context, **(full or {}), "messages": script_messages()}
        response = render(request, "files/page.html", context, status)
    response.headers["content-security-policy"] = CSP
    return response


async def show(
    request: Request,
    replica: Replica,
    user: WebUser,
    view: View,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    context = await asyncio.to_thread(browser_context, replica, user, view)
    if "file_parent" in context and not extra:
        return RedirectResponse(replace(view, path=context["file_parent"]).url(), 303)
    context.update(extra)
    if context["missing"] and status == 200:
        status = context["missing_status"]
    full = None
    if not is_htmx(request):
        full = {"unfinished": await asyncio.to_thread(unfinished_uploads, replica, user)}
    return respond(request, context, status=status, full=full)


@router.get("/files")
async def files_page(
    request: Request,
    replica: ReplicaDep,
    user: User,
    area: str = "home",
    path: str = "",
    sort: str = "name",
    order: str = "asc",
    page: str = "1",
) -> Response:
    return await show(request, replica, user, View.of(area, path, sort, order, page))


# -- the quota bar -------------------------------------------------------------------------------


def quota_context(replica: Replica, user: WebUser) -> dict[str, Any]:
    storage = replica.uploads.storage
    with replica.db.session() as s:
        row = s.get(UserRow, user.principal.user_id)
        assert row is not None
        report: QuotaReport = storage.quota_report(s, row)
    return {"quota": report, "size_text": format_size}


@router.get("/files/quota")
async def quota_bar(request: Request, replica: ReplicaDep, user: User) -> Response:
    context = await asyncio.to_thread(quota_context, replica, user)
    return render(request, "files/_quota.html", context)


# -- actions -------------------------------------------------------------------------------------


FormText = Annotated[str, Form()]


def folder_of_form(
    area: FormText = "home",
    folder: FormText = "",
    sort: FormText = "name",
    order: FormText = "asc",
) -> View:
    """The folder an action form was posted from, to show again (with its sort) afterwards."""
    return View.of(area, folder, sort, order, 1)


FormFolder = Annotated[View, Depends(folder_of_form)]


async def act(
    request: Request,
    replica: Replica,
    user: WebUser,
    view: View,
    action: Any,
    success_status: int = 200,
) -> Response:
    """Run `action(storage, area)` as the user; show the folder with its notice or refusal."""
    storage = replica.uploads.storage

    def run() -> str:
        with replica.db.session() as s:
            where = storage.area(s, user.principal, view.area, write=True)
        notice: str = action(storage, where)
        return notice

    try:
        notice = await asyncio.to_thread(run)
    except PlatformError as exc:
        return await show(request, replica, user, view, status=exc.status, error=exc.message)
    return await show(request, replica, user, view, status=success_status, notice=notice)


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


@router.post("/files/folders")
async def new_folder(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    view: FormFolder,
    name: FormText = "",
) -> Response:
    name = name.strip()

    def make(storage: Any, where: Any) -> str:
        if not name or "/" in name:
            raise PlatformError(_("Give the new folder a name (without '/')."), param="name")
        entry, _made = storage.make_folder(where, _join(view.path, name))
        return _("Folder %(name)s created.") % {"name": entry.name}

    return await act(request, replica, user, view, make, success_status=201)


@router.post("/files/rename")
async def rename(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    view: FormFolder,
    path: FormText,
    new_name: FormText = "",
) -> Response:
    new_name = new_name.strip()

    def move(storage: Any, where: Any) -> str:
        if not new_name:
            raise PlatformError(_("Give the new name."), param="new_name")
        # A name is taken in the folder of the entry; a path with '/' moves it from there.
        parent = str(PurePosixPath(path.strip("/")).parent).strip(".")
        entry = storage.move(where, path, _join(parent, new_name))
        return _("Renamed %(old)s to %(new)s.") % {"old": path.strip("/"), "new": entry.path}

    return await act(request, replica, user, view, move)


@router.post("/files/delete")
async def delete(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    view: FormFolder,
    path: FormText,
    recursive: FormText = "",
) -> Response:

    def remove(storage: Any, where: Any) -> str:
        entry = storage.delete(where, path, recursive=recursive == "true")
        if entry.type == "dir":
            return _("Deleted the folder %(name)s and everything in it.") % {"name": entry.path}
        return _("Deleted %(name)s.") % {"name": entry.path}

    return await act(request, replica, user, view, remove)

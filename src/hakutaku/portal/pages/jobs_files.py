"""A job's folder in the portal: its script, output.log and what the job wrote there.

GET /jobs/{id}/files?path=   a folder of the job's folder, for its owner (and admins)

The job page shows the folder's top in its Files section (`files_context`); a folder links
here, a file to GET /api/jobs/{id}/files/{path} (`?inline=true` to view a text file as text).
What is listed and refused is compute/job_files.py's (request.json is never shown).
"""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.compute import job_files
from hakutaku.errors import PlatformError
from hakutaku.portal.auth import User, WebUser
from hakutaku.portal.i18n import _
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)


def folder_url(job_id: int, path: str) -> str:
    return f"/jobs/{job_id}/files" + (f"?{urlencode({'path': path})}" if path else "")


def file_url(job_id: int, path: str) -> str:
    return f"/api/jobs/{job_id}/files/{quote(path, safe='/')}"


def files_context(replica: Replica, job_id: int, path: str) -> dict[str, Any]:
    """The folder's rows, breadcrumb and links; `files_error` instead of rows when `path` is
    refused or missing. The caller has checked that the job is the user's (or an admin's)."""
    folder = replica.compute.job_dir(job_id)
    crumbs = [(_("Job %(id)d") % {"id": job_id}, folder_url(job_id, ""))]
    parts = PurePosixPath(path.strip("/")).parts
    for i, part in enumerate(parts):
        crumbs.append((part, folder_url(job_id, "/".join(parts[: i + 1]))))
    try:
        kind, entries = job_files.listing(job_id, folder, path)
    except PlatformError as exc:
        return {"files_crumbs": crumbs, "files_rows": [], "files_error": exc.message}
    if kind == "file":  # a file's address: its one row, in its folder
        crumbs = crumbs[:-1]
    rows = [
        {
            "name": e.name,
            "type": e.type,
            "size": e.size,
            "modified": e.modified,
            "url": folder_url(job_id, e.path) if e.type == "dir" else file_url(job_id, e.path),
            "view_url": None if e.type == "dir" else file_url(job_id, e.path) + "?inline=true",
        }
        for e in entries
    ]
    up = crumbs[-2] if len(crumbs) > 1 else None
    return {"files_crumbs": crumbs, "files_rows": rows, "files_error": None, "files_up": up}


def _page_context(replica: Replica, user: WebUser, job_id: int, path: str) -> dict[str, Any]:
    with replica.db.session() as s:
        job = replica.compute.get(s, user.principal, job_id)  # 404 unless mine (or admin)
    return {"job": job, **files_context(replica, job.id, path)}


@router.get("/jobs/{job_id:int}/files")
async def job_files_page(
    request: Request, replica: ReplicaDep, user: User, job_id: int, path: str = ""
) -> Response:
    try:
        context = await asyncio.to_thread(_page_context, replica, user, job_id, path)
    except PlatformError as exc:  # not the user's job: as the job page answers
        title = _("Not found") if exc.status == 404 else _("Not allowed")
        return render(request, "error.html", {"title": title, "message": exc.message}, exc.status)
    return render(request, "jobs/files.html", context)

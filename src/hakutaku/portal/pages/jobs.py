"""The jobs pages: my jobs (admins: everyone's), one job, cancelling and extending it.

GET  /jobs                      the list: newest first, filtered, a page at a time (?before=ID)
GET  /jobs/list                 the list's table alone (htmx polls it while jobs are active)
GET  /jobs/{id}                 one job: state and reason, resources, times, command, live log
GET  /jobs/{id}/detail          the job's details alone (refreshed when its state changes)
GET  /jobs/{id}/files           the job's folder (jobs_files.py; its top is on the job page)
POST /jobs/{id}/cancel          cancel it (ComputeService.cancel, as POST /api/jobs/{id}/cancel)
POST /jobs/{id}/extend          more time (`by`: 30m, 1h; ComputeService.extend, as the API's)

The form (/jobs/new) and templates are in jobs_new.py, the live log in jobs_log.py. States
come from the platform's database, never from the scheduler's commands: the scheduler loop
records them, so a page view costs a few indexed queries whatever the backend.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from hakutaku.api.deps import ReplicaDep
from hakutaku.compute.job_queries import (
    ACTIVE,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    JobFilter,
    JobPage,
    active_counts,
    page_of_jobs,
)
from hakutaku.compute.request import parse_extra
from hakutaku.compute.states import ACTIVE_STATES, JobState
from hakutaku.compute.units import format_duration, format_mem_mb
from hakutaku.db.models import Job, Partition
from hakutaku.db.models import User as UserRow
from hakutaku.errors import PlatformError
from hakutaku.portal.auth import Posting, User, WebUser
from hakutaku.portal.formatting import ago, when
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.pages.jobs_files import files_context
from hakutaku.portal.security import local_path
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

STATES = [st.value for st in JobState]
ACTIVE_VALUES = frozenset(st.value for st in ACTIVE_STATES)
PAGE_SIZES = (25, 50, 100, 200)
STATE_NAMES = {
    "pending": N_("pending"),
    "running": N_("running"),
    "completed": N_("completed"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
    "timeout": N_("timed out"),
}
DONE = {
    "submitted": N_("Job submitted."),
    "cancelled": N_("Cancel requested."),
    "extended": N_("Time limit raised."),
}


def render_jobs(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    """A jobs page: the shared helpers its templates use, then the portal's render."""
    return render(request, template, {"mem_text": format_mem_mb, **context}, status)


def error_page(request: Request, exc: PlatformError) -> Response:
    """A service's refusal as a page, with its own message and status."""
    title = _("Not found") if exc.status == 404 else _("Not allowed")
    return render(request, "error.html", {"title": title, "message": exc.message}, exc.status)


# -- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListView:
    """What the list's address asks for: filters, the page (`before`) and its size."""

    flt: JobFilter
    before: int | None = None
    per_page: int = PAGE_SIZE

    @classmethod
    def of(cls, request: Request) -> ListView:
        q = request.query_params
        before, per_page = q.get("before", ""), q.get("per_page", "")
        return cls(
            JobFilter(
                state=q.get("state", "").strip(),
                partition=q.get("partition", "").strip()[:64],
                text=q.get("q", "").strip()[:128],
                everyone=q.get("everyone") == "1",
            ),
            int(before) if before.isdigit() else None,
            min(int(per_page), MAX_PAGE_SIZE)
            if per_page.isdigit() and int(per_page)
            else PAGE_SIZE,
        )

    def url(self, path: str, *, before: int | None = None) -> str:
        values: dict[str, object] = {
            "state": self.flt.state,
            "partition": self.flt.partition,
            "q": self.flt.text,
            "everyone": "1" if self.flt.everyone else "",
            "per_page": self.per_page if self.per_page != PAGE_SIZE else "",
            "before": before,
        }
        query = urlencode({k: v for k, v in values.items() if v not in ("", None)})
        return f"{path}?{query}" if query else path


def list_rows(page: JobPage, now: datetime) -> list[dict[str, Any]]:
    """The list's cells as text, made here: a template's per-row macros and translation
    calls cost more than the query (the list is the page people keep open)."""
    names = {state: _(label) for state, label in STATE_NAMES.items()}
    job_label, cancel_label, ago_label = _("Job %(id)d"), _("Cancel job %(id)d"), _("%(t)s ago")
    one_cpu, cpus = _("%(n)d CPU"), _("%(n)d CPUs")
    exit_label = _("exit %(code)d")
    rows = []
    for row in page.rows:
        job = row.job
        resources = [
            (one_cpu if job.cpus == 1 else cpus) % {"n": job.cpus},
            format_mem_mb(job.mem_mb),
        ]
        if job.accelerators:
            model = f" {job.accelerator_model}" if job.accelerator_model else ""
            resources.append(f"{job.accelerators} × {job.accelerator}{model}")
        ran = _seconds(job.started_at, job.ended_at or now) if job.started_at else None
        rows.append(
            {
                "id": job.id,
                "name": job.name,
                "owner": row.owner,
                "state": job.state,
                "state_name": names.get(job.state, job.state),
                "reason": job.reason if job.state == JobState.PENDING.value else "",
                "exit": exit_label % {"code": job.exit_code} if job.exit_code else "",
                "where": f"{job.partition} · {job.qos}",
                "resources": " · ".join(resources),
                "submitted_iso": job.submitted_at.isoformat(),
                "submitted_at": when(job.submitted_at),
                "submitted_ago": ago_label % {"t": ago(job.submitted_at)},
                "ran": format_duration(ran) if ran is not None else "—",
                "active": job.state in ACTIVE_VALUES,
                "label": job_label % {"id": job.id},
                "cancel_label": cancel_label % {"id": job.id},
            }
        )
    return rows


def _list_context(replica: Replica, user: WebUser, view: ListView) -> dict[str, Any]:
    with replica.db.session() as s:
        page = page_of_jobs(s, user.principal, view.flt, before=view.before, limit=view.per_page)
        counts = active_counts(s, user.principal, view.flt.everyone)
        partitions = list(s.scalars(select(Partition.name).order_by(Partition.name)))
    active = any(r.job.state in ACTIVE_VALUES for r in page.rows)
    filtered = bool(view.flt.state or view.flt.partition or view.flt.text or view.before)
    return {
        "page": page,
        "rows": list_rows(page, datetime.now(UTC)),
        "flt": view.flt,
        "view": view,
        "filtered": filtered,
        "everyone": view.flt.everyone and user.is_admin,
        "counts": counts,
        "partitions": partitions,
        "states": STATES,
        "active_filter": ACTIVE,
        "page_sizes": PAGE_SIZES,
        "now": datetime.now(UTC),
        # the first page can gain new jobs; a later page changes only while its jobs run
        "refresh": view.before is None or active,
        "list_url": view.url("/jobs/list", before=view.before),
        "older_url": view.url("/jobs", before=page.older) if page.older else None,
        "newest_url": view.url("/jobs") if view.before is not None else None,
        "here": view.url("/jobs", before=view.before),
    }


@router.get("/jobs")
async def jobs_page(request: Request, replica: ReplicaDep, user: User) -> Response:
    view = ListView.of(request)
    try:
        context = await asyncio.to_thread(_list_context, replica, user, view)
    except PlatformError as exc:  # an unknown state in the address
        view = replace(view, flt=replace(view.flt, state=""))
        context = await asyncio.to_thread(_list_context, replica, user, view)
        context["error"] = exc.message
    done = request.query_params.get("done")
    if done in DONE:
        context["notice"] = _(DONE[done])
    return render_jobs(request, "jobs/list.html", context)


@router.get("/jobs/list")
async def jobs_table(request: Request, replica: ReplicaDep, user: User) -> Response:
    try:
        context = await asyncio.to_thread(_list_context, replica, user, ListView.of(request))
    except PlatformError as exc:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    return render_jobs(request, "jobs/_table.html", context)


# -- one job --------------------------------------------------------------------------------------


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


def job_view(job: Job, owner: str) -> dict[str, Any]:
    """What the job page shows, worked out once (times so far for a job still going)."""
    now = datetime.now(UTC)
    state = JobState(job.state)
    waited_until = job.started_at or (job.ended_at if state.final else now)
    ran_until = job.ended_at or (None if state.final else now)
    return {
        "job": job,
        "owner": owner,
        "active": not state.final,
        "wait_seconds": _seconds(job.submitted_at, waited_until),
        "run_seconds": _seconds(job.started_at, ran_until),
        "command_text": shlex.join(job.command) if job.command else "",
    }


def _job_context(
    replica: Replica, user: WebUser, job_id: int, *, files: bool = False
) -> dict[str, Any]:
    with replica.db.session() as s:
        job = replica.compute.get(s, user.principal, job_id)  # 404 unless mine (or admin)
        owner = s.scalar(select(UserRow.name).where(UserRow.id == job.user_id)) or "?"
    view = job_view(job, owner)
    if files:  # the page's Files section: the top of the job's folder
        view.update(files_context(replica, job.id, ""))
    return view


@router.get("/jobs/{job_id:int}")
async def job_page(request: Request, replica: ReplicaDep, user: User, job_id: int) -> Response:
    try:
        context = await asyncio.to_thread(_job_context, replica, user, job_id, files=True)
    except PlatformError as exc:
        return error_page(request, exc)
    done = request.query_params.get("done")
    if done in DONE:
        context["notice"] = _(DONE[done])
    return render_jobs(request, "jobs/show.html", context)


@router.get("/jobs/{job_id:int}/detail")
async def job_detail(request: Request, replica: ReplicaDep, user: User, job_id: int) -> Response:
    try:
        context = await asyncio.to_thread(_job_context, replica, user, job_id)
    except PlatformError as exc:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    return render_jobs(request, "jobs/_detail.html", context)


@router.post("/jobs/{job_id:int}/cancel")
async def cancel_job(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    job_id: int,
    next: Annotated[str, Form()] = "",
) -> Response:
    def cancel() -> None:
        with replica.db.session() as s:
            replica.compute.cancel(s, user.principal, job_id)

    try:
        await asyncio.to_thread(cancel)
    except PlatformError as exc:
        if exc.status == 404:
            return error_page(request, exc)
        context = await asyncio.to_thread(_job_context, replica, user, job_id, files=True)
        return render_jobs(request, "jobs/show.html", {**context, "error": exc.message}, exc.status)
    replica.scheduler.wake()
    target = local_path(next, f"/jobs/{job_id}")
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}done=cancelled", status_code=303)


@router.post("/jobs/{job_id:int}/extend")
async def extend_job(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    job_id: int,
    by: Annotated[str, Form()],
) -> Response:
    def extend() -> None:
        with replica.db.session() as s:
            replica.compute.extend(s, user.principal, job_id, parse_extra(by.strip()))

    try:
        await asyncio.to_thread(extend)
    except PlatformError as exc:
        if exc.status == 404:
            return error_page(request, exc)
        context = await asyncio.to_thread(_job_context, replica, user, job_id, files=True)
        return render_jobs(request, "jobs/show.html", {**context, "error": exc.message}, exc.status)
    return RedirectResponse(f"/jobs/{job_id}?done=extended", status_code=303)

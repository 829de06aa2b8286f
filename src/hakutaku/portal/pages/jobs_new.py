"""The job form, built from the compute policy, and my saved job templates.

GET  /jobs/new                    the form (?from=JOB resubmits a job, ?template=ID uses one)
GET  /jobs/new/resources          the form's resource fields alone, for another partition or
                                  QOS (htmx swaps them in, keeping what was typed)
POST /jobs/new                    submit (ComputeService.submit, as POST /api/jobs), or with
                                  action=save-template save the form as a named template
GET  /jobs/templates              my templates
POST /jobs/templates/{id}/delete  delete one of them

A refused submission comes back as the form with the values kept, the service's refusal (which
names the limit) above it and beside the field it is about.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.compute.job_templates import (
    delete_template,
    get_template,
    list_templates,
    save_template,
)
from hakutaku.compute.policy_store import read_policy
from hakutaku.errors import PlatformError
from hakutaku.portal.auth import Posting, User, WebUser
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.pages.jobs import error_page, render_jobs
from hakutaku.portal.pages.jobs_form import JobForm, field_of, form_limits
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

SAVE_TEMPLATE = "save-template"
DONE = {
    "saved": N_("Template saved."),
    "updated": N_("Template updated."),
    "deleted": N_("Template deleted."),
}


def _form_context(replica: Replica, user: WebUser, form: JobForm) -> dict[str, Any]:
    compute = replica.compute
    machine = None if compute.backend.queues_itself else compute.capacity
    with replica.db.session() as s:
        policy = read_policy(s)
        templates = list_templates(s, user.principal)
    return {
        "form": form,
        "limits": form_limits(policy, form, machine),
        "accounts": sorted(user.principal.groups),
        "templates": templates,
        "home": str(compute.settings.storage_path / "home" / user.name),
        "field_errors": {},
        "template_name": "",
    }


async def _form_page(
    request: Request,
    replica: Replica,
    user: WebUser,
    form: JobForm,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    context = await asyncio.to_thread(_form_context, replica, user, form)
    context.update(extra)
    done = request.query_params.get("done")
    if done in DONE and "notice" not in extra:
        context["notice"] = _(DONE[done])
    return render_jobs(request, "jobs/new.html", context, status=status)


@router.get("/jobs/new")
async def new_job(request: Request, replica: ReplicaDep, user: User) -> Response:
    source, template = request.query_params.get("from", ""), request.query_params.get("template")

    def prefill() -> tuple[JobForm, str]:
        with replica.db.session() as s:
            if source.isdigit():
                job = replica.compute.get(s, user.principal, int(source))  # mine, or 404
                return JobForm.of_job(job), ""
            if template is not None:
                row = get_template(s, user.principal, int(template) if template.isdigit() else 0)
                return JobForm.of(row.spec), row.name
        return JobForm(), ""

    try:
        form, template_name = await asyncio.to_thread(prefill)
    except PlatformError as exc:
        return error_page(request, exc)
    notice = None
    if source.isdigit():
        notice = _("The form holds job %(id)s's values: change what you like and submit.") % {
            "id": source
        }
    extra: dict[str, Any] = {"template_name": template_name}
    if notice:
        extra["notice"] = notice
    return await _form_page(request, replica, user, form, **extra)


@router.get("/jobs/new/resources")
async def resource_fields(request: Request, replica: ReplicaDep, user: User) -> Response:
    form = JobForm.of(dict(request.query_params))
    context = await asyncio.to_thread(_form_context, replica, user, form)
    return render_jobs(request, "jobs/_resources.html", context)


@router.post("/jobs/new")
async def submit_job(request: Request, replica: ReplicaDep, user: Posting) -> Response:
    data = await request.form()  # already read (and cached) by the CSRF check
    values = {k: v for k, v in data.items() if isinstance(v, str)}
    form = JobForm.of(values)
    if values.get("action") == SAVE_TEMPLATE:
        return await _save(request, replica, user, form, values.get("template_name", ""))

    def submit() -> int:
        with replica.db.session() as s:
            job = replica.compute.submit(s, user.principal, form.submission())
            return job.id

    try:
        job_id = await asyncio.to_thread(submit)
    except PlatformError as exc:
        return await _refused(request, replica, user, form, exc, values)
    replica.scheduler.wake()
    return RedirectResponse(f"/jobs/{job_id}?done=submitted", status_code=303)


async def _save(
    request: Request, replica: Replica, user: WebUser, form: JobForm, name: str
) -> Response:
    def save() -> tuple[int, bool]:
        with replica.db.session() as s:
            row, created = save_template(s, user.principal, name, form.values())
            s.flush()
            return row.id, created

    try:
        template_id, created = await asyncio.to_thread(save)
    except PlatformError as exc:
        return await _refused(request, replica, user, form, exc, {"template_name": name})
    done = "saved" if created else "updated"
    return RedirectResponse(f"/jobs/new?template={template_id}&done={done}", status_code=303)


async def _refused(
    request: Request,
    replica: Replica,
    user: WebUser,
    form: JobForm,
    exc: PlatformError,
    values: dict[str, str],
) -> Response:
    field = field_of(exc.param, form.mode)
    return await _form_page(
        request,
        replica,
        user,
        form,
        status=exc.status,
        error=exc.message,
        field_errors={field: exc.message} if field else {},
        template_name=values.get("template_name", ""),
    )


# -- templates ------------------------------------------------------------------------------------


@router.get("/jobs/templates")
async def templates_page(request: Request, replica: ReplicaDep, user: User) -> Response:
    def read() -> list[Any]:
        with replica.db.session() as s:
            return list_templates(s, user.principal)

    templates = await asyncio.to_thread(read)
    context: dict[str, Any] = {"templates": templates}
    done = request.query_params.get("done")
    if done in DONE:
        context["notice"] = _(DONE[done])
    return render_jobs(request, "jobs/templates.html", context)


@router.post("/jobs/templates/{template_id:int}/delete")
async def remove_template(
    request: Request, replica: ReplicaDep, user: Posting, template_id: int
) -> Response:
    def delete() -> None:
        with replica.db.session() as s:
            delete_template(s, user.principal, template_id)

    try:
        await asyncio.to_thread(delete)
    except PlatformError as exc:
        return error_page(request, exc)
    return RedirectResponse("/jobs/templates?done=deleted", status_code=303)

"""`/api/jobs` and `/api/compute`: submit, follow, extend and cancel jobs; partitions and QOS."""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.api.deps import ComputeDep, DatabaseDep, SchedulerDep, admin, caller, db_session
from hakutaku.api.files import EntryOut
from hakutaku.api.job_schemas import (
    ExtendIn,
    JobFilesOut,
    JobIn,
    JobOut,
    PolicyIn,
    PolicyOut,
    ResourcesOut,
)
from hakutaku.api.opened_file import OpenedFileResponse
from hakutaku.compute import job_files
from hakutaku.compute.capacity import free_after
from hakutaku.compute.policy import PolicyError, parse_policy
from hakutaku.compute.policy_store import read_policy, write_policy
from hakutaku.compute.request import JobSubmission, parse_extra
from hakutaku.compute.service import job_record
from hakutaku.compute.states import JobState
from hakutaku.db.models import Job, User
from hakutaku.errors import PlatformError
from hakutaku.identity.auth import Principal

router = APIRouter(tags=["jobs"])

LOG_CHUNK = 64 * 1024
LOG_POLL = 0.25  # seconds between looks at a growing log


def job_out(s: Session, job: Job) -> JobOut:
    user = s.get(User, job.user_id)
    return JobOut.model_validate(job_record(job, user.name if user else "?"))


@router.post("/api/jobs", response_model=JobOut, status_code=201)
def submit_job(
    body: JobIn,
    service: ComputeDep,
    scheduler: SchedulerDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> JobOut:
    job = service.submit(s, who, JobSubmission(**body.model_dump()))
    out = job_out(s, job)
    s.commit()
    scheduler.wake()
    return out


@router.get("/api/jobs", response_model=list[JobOut])
def list_jobs(
    service: ComputeDep,
    all: bool = False,
    user: str | None = None,
    state: str | None = None,
    limit: int = 200,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[JobOut]:
    states = [x for x in state.split(",") if x] if state else None
    jobs = service.list(s, who, everyone=all, user=user, states=states, limit=limit)
    return [job_out(s, j) for j in jobs]


@router.get("/api/jobs/{job_id}", response_model=JobOut)
def show_job(
    job_id: int,
    service: ComputeDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> JobOut:
    return job_out(s, service.get(s, who, job_id))


@router.post("/api/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(
    job_id: int,
    service: ComputeDep,
    scheduler: SchedulerDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> JobOut:
    job = service.cancel(s, who, job_id)
    out = job_out(s, job)
    s.commit()
    scheduler.wake()
    return out


@router.post("/api/jobs/{job_id}/extend", response_model=JobOut)
def extend_job(
    job_id: int,
    body: ExtendIn,
    service: ComputeDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> JobOut:
    """Raise a pending or running job's time limit by `by` (its owner, or an admin). Over the
    partition's or QOS's limit: 400 naming it; an ended job: 409."""
    job = service.extend(s, who, job_id, parse_extra(body.by))
    out = job_out(s, job)
    s.commit()
    return out


@router.get("/api/jobs/{job_id}/logs", response_class=StreamingResponse)
def job_logs(
    job_id: int,
    service: ComputeDep,
    db: DatabaseDep,
    offset: int = 0,
    follow: bool = False,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> StreamingResponse:
    """The job's output (stdout and stderr) from byte `offset`; with `follow`, kept open and
    sent as it grows until the job ends."""
    job = service.get(s, who, job_id)
    path = Path(job.log_path or "")

    def ended() -> bool:
        with db.session() as fresh:
            state = fresh.scalar(select(Job.state).where(Job.id == job_id))
        return state is None or JobState(state).final

    return StreamingResponse(
        _log_stream(path, offset, follow, ended), media_type="text/plain; charset=utf-8"
    )


async def _log_stream(
    path: Path, offset: int, follow: bool, ended: Callable[[], bool]
) -> AsyncIterator[bytes]:
    position = max(0, offset)
    while True:
        # Look at the state before reading, so the last bytes written before the end are sent.
        done = not follow or await asyncio.to_thread(ended)
        chunk = await asyncio.to_thread(read_from, path, position)
        while chunk:
            position += len(chunk)
            yield chunk
            chunk = await asyncio.to_thread(read_from, path, position)
        if done:
            return
        await asyncio.sleep(LOG_POLL)


def read_from(path: Path, position: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(position)
            return f.read(LOG_CHUNK)
    except FileNotFoundError:
        return b""


@router.get("/api/jobs/{job_id}/files", response_model=JobFilesOut)
def list_job_files(
    job_id: int,
    service: ComputeDep,
    path: str = "",
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> JobFilesOut:
    """The entries of the job's folder, or of a folder in it (`path`); links are shown, not
    followed. The job's owner or an admin (others: 404). A job that has not started yet
    lists empty; `request.json`, which holds the job's environment, is never listed."""
    job = service.get(s, who, job_id)
    kind, entries = job_files.listing(job.id, service.job_dir(job.id), path)
    return JobFilesOut(
        job_id=job.id,
        path=path.strip("/"),
        type=kind,
        entries=[EntryOut.model_validate(e) for e in entries],
    )


@router.get("/api/jobs/{job_id}/files/{path:path}", response_class=FileResponse)
def job_file(
    job_id: int,
    path: str,
    service: ComputeDep,
    inline: bool = False,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> FileResponse:
    """A file of the job's folder (Range supported), as an attachment; with `inline`, a
    text file is shown in the browser as text/plain (never as HTML), anything else still
    comes as an attachment. `request.json` (the job's environment) is 404 `hidden_file`."""
    job = service.get(s, who, job_id)
    name, fd = job_files.open_file(job.id, service.job_dir(job.id), path)
    try:
        shown = inline and job_files.looks_like_text(fd)
        return OpenedFileResponse(
            fd,
            filename=name,
            media_type="text/plain; charset=utf-8" if shown else None,
            content_disposition_type="inline" if shown else "attachment",
            headers={"X-Content-Type-Options": "nosniff"},
        )
    except BaseException:
        os.close(fd)
        raise


# ----------------------------------------------------------------------------- /api/compute


@router.get("/api/compute/policy", response_model=PolicyOut, dependencies=[Depends(caller)])
def get_policy(s: Session = Depends(db_session, scope="function")) -> PolicyOut:
    return PolicyOut.of(read_policy(s))


@router.put("/api/compute/policy", response_model=PolicyOut, dependencies=[Depends(admin)])
def put_policy(body: PolicyIn, s: Session = Depends(db_session, scope="function")) -> PolicyOut:
    """Replace partitions and QOS (admins). Jobs already submitted keep their values. A policy
    that cannot be used is refused (400 `invalid_policy`) with what to fix."""
    try:
        if body.toml is not None:
            data = tomllib.loads(body.toml)
        elif body.policy is not None:
            data = body.policy  # lists (GET's shape) or tables: parse_policy reads both
        else:
            raise PlatformError("Send the policy as `toml` (its file's text) or as `policy`.")
        policy = parse_policy(data, "the policy sent")
    except tomllib.TOMLDecodeError as exc:
        message = f"The policy sent is not valid TOML: {exc}."
        raise PlatformError(message, code="invalid_policy") from exc
    except PolicyError as exc:
        raise PlatformError(str(exc), code="invalid_policy") from exc
    write_policy(s, policy)
    return PolicyOut.of(policy)


@router.get("/api/compute/resources", response_model=ResourcesOut)
def resources(
    service: ComputeDep,
    _who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> ResourcesOut:
    cap = service.capacity
    free = None
    if not service.backend.queues_itself:
        running = s.scalars(
            select(Job).where(Job.backend == "local", Job.state == JobState.RUNNING.value)
        )
        f = free_after(cap, running)
        free = {"cpus": f.cpus, "mem_mb": f.mem_mb, "accelerators": [asdict(a) for a in f.cards]}
    return ResourcesOut(
        backend=service.backend.name,
        cpus=cap.cpus,
        mem_mb=cap.mem_mb,
        accelerators=[asdict(a) for a in cap.accelerators],
        free=free,
    )

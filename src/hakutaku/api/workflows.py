"""`/api/workflows`: campaigns of `hakutaku.workflows` (list, show with per-task states and
timings, cancel), and the journal their steering processes write for the key's user.

Only the owner sees a campaign (404 for anyone else); an admin sees and cancels everyone's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hakutaku.api.deps import SettingsDep, caller, db_session
from hakutaku.identity.auth import Principal
from hakutaku.workflows import service, states
from hakutaku.workflows.store import NAME_PATTERN

router = APIRouter(prefix="/api/workflows", tags=["workflows"])

MAX_ROWS = 5000
TaskState = Literal["pending", "running", "done", "failed", "timeout", "cancelled"]
EndState = Literal["finished", "failed", "cancelled"]


class CampaignOut(BaseModel):
    id: int = Field(description="Its ledger rows' refs are ID/TASK_KEY/RUN.")
    name: str
    owner: str | None
    profile: str
    state: str = Field(description="running | finished | failed | cancelled")
    run_dir: str
    host: str
    pid: int | None = Field(description="The steering process while it runs.")
    runs: int = Field(description="How many times it was started (a resume is a new run).")
    cancel_requested: bool
    blocks_are_jobs: bool = Field(
        description="Its blocks are the owner's platform jobs (billed as jobs, not per task)."
    )
    created_at: datetime
    updated_at: datetime = Field(description="The steering process's last heartbeat.")
    tasks: dict[str, int] = Field(description="Tasks by state.")
    cpu_seconds: float = Field(description="CPU time its tasks used (measured).")
    wall_seconds: float


class TaskOut(BaseModel):
    key: str = Field(description="Name, hash of its inputs, and its index among equal tasks.")
    name: str
    kind: str = Field(description="python | executable")
    pool: str
    cpus: int
    cards: int
    state: str = Field(description="pending | running | done | failed | timeout | cancelled")
    attempts: int
    run: int = Field(description="The run of the campaign it last ran in.")
    submitted_at: datetime
    started_at: datetime | None = Field(description="Its latest attempt's start.")
    ended_at: datetime | None
    cpu_seconds: float
    wall_seconds: float
    task_dir: str
    result_ref: str | None = Field(description="The folder its result is in (done tasks).")
    error: str


class CampaignDetailOut(CampaignOut):
    task_list: list[TaskOut]


class RunIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, max_length=128)
    run_dir: str = Field(min_length=1, max_length=1024)
    profile: str = Field(min_length=1, max_length=16)
    host: str = Field("", max_length=255)
    pid: int | None = None


class JournaledOut(BaseModel):
    key: str
    state: str
    task_dir: str
    result_ref: str | None


class RunOut(BaseModel):
    id: int
    run: int
    previous: list[JournaledOut] = Field(description="Tasks earlier runs finished (done).")


class TaskRowIn(BaseModel):
    """A task's row as the steering process journals it: `key` and what changed (a new
    task's first row gives name, kind, state and task_dir)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=80)
    name: str | None = Field(None, min_length=1, max_length=128)
    kind: Literal["python", "executable"] | None = None
    pool: str | None = Field(None, min_length=1, max_length=64)
    cpus: int | None = Field(None, ge=1)
    cards: int | None = Field(None, ge=0)
    state: TaskState | None = None
    attempts: int | None = Field(None, ge=0)
    task_dir: str | None = Field(None, min_length=1, max_length=1024)
    result_ref: str | None = Field(None, max_length=1024)
    error: str | None = Field(None, max_length=65536)
    cpu_seconds: float | None = Field(None, ge=0)
    wall_seconds: float | None = Field(None, ge=0)
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class TasksIn(BaseModel):
    run: int = Field(ge=1)
    tasks: list[TaskRowIn] = Field(max_length=MAX_ROWS)
    blocks_are_jobs: bool = False


class TasksWrittenOut(BaseModel):
    written: int
    cancel_requested: bool = Field(description="Stop: `hai workflows cancel` asked for it.")


class EndIn(BaseModel):
    run: int = Field(ge=1)
    state: EndState


def _out(s: Session, c: Any) -> CampaignOut:
    return CampaignOut.model_validate(service.record(s, c))


@router.get("", response_model=list[CampaignOut])
def listing(
    user: str | None = Query(None, description="An admin: this user's campaigns only."),
    state: str | None = Query(None, description="running | finished | failed | cancelled"),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[CampaignOut]:
    """Your campaigns, newest first (an admin's: everyone's)."""
    return [_out(s, c) for c in service.listing(s, who, user=user, state=state)]


@router.get("/{name}", response_model=CampaignDetailOut)
def show(
    name: str,
    user: str | None = Query(None, description="An admin: the owner, if several have NAME."),
    state: str | None = Query(None, description="Only tasks in this state."),
    limit: int = Query(1000, ge=1, le=10000),
    offset: int = Query(0, ge=0),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> CampaignDetailOut:
    """One campaign with its tasks' states and timings, in the order they were submitted."""
    c = service.get_campaign(s, who, name, user=user)
    tasks = service.task_records(s, c, state=state, limit=limit, offset=offset)
    return CampaignDetailOut.model_validate({**service.record(s, c), "task_list": tasks})


@router.post("/{name}/cancel", response_model=CampaignOut)
def cancel(
    name: str,
    settings: SettingsDep,
    user: str | None = Query(None, description="An admin: the owner, if several have NAME."),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> CampaignOut:
    """Cancel a running campaign: its steering process cancels its running and queued tasks
    (their process trees are killed) within seconds and ends it `cancelled`. One whose
    steering process sent no heartbeat for HAI_WORKFLOW_STALE_AFTER is ended at once."""
    c = service.cancel(s, who, name, user=user, stale_after=settings.workflow_stale_after)
    return _out(s, c)


# ------------------------------------------------------------------ the steering process


@router.post("", response_model=RunOut)
def start_run(
    body: RunIn,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> RunOut:
    """Open a new run of your campaign (created the first time): the steering process's
    journal starts here. Answers the tasks earlier runs finished, which it will not redo."""
    opened = service.start_run(s, who, **body.model_dump())
    done = [j for j in opened.previous.values() if j.state == states.DONE]
    return RunOut(
        id=opened.campaign_id,
        run=opened.run,
        previous=[JournaledOut.model_validate(j, from_attributes=True) for j in done],
    )


@router.post("/{name}/tasks", response_model=TasksWrittenOut)
def write_tasks(
    name: str,
    body: TasksIn,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> TasksWrittenOut:
    """The journal: tasks' new rows (none: a heartbeat). Answers whether to stop."""
    rows = [row.model_dump(exclude_unset=True) for row in body.tasks]
    stop = service.write_tasks(s, who, name, body.run, rows, body.blocks_are_jobs)
    return TasksWrittenOut(written=len(rows), cancel_requested=stop)


@router.post("/{name}/end", response_model=CampaignOut)
def end_run(
    name: str,
    body: EndIn,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> CampaignOut:
    """The steering process is done: the campaign ends finished, failed or cancelled."""
    return _out(s, service.end_run(s, who, name, body.run, body.state))

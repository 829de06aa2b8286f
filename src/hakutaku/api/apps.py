"""`/api/apps`: the apps on offer, and app sessions (launch, list, show, extend, stop)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hakutaku.api.deps import ReplicaDep, caller, db_session
from hakutaku.api.job_schemas import ExtendIn
from hakutaku.api.jobs import job_out
from hakutaku.apps.cards import Card, card, fresh_cards
from hakutaku.apps.sessions import Launch
from hakutaku.apps.training import TrainingSubmission, submit_training
from hakutaku.compute.policy_store import read_policy
from hakutaku.compute.request import parse_extra
from hakutaku.identity.auth import Principal

router = APIRouter(tags=["apps"])


class LaunchIn(BaseModel):
    app: str = Field(description="An app's name (GET /api/apps lists them).")
    cpus: int | None = None
    mem: str | None = None
    time: str | None = None
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    folder: str | None = Field(
        None,
        description="The folder the app works on (the training dashboard's run folder), "
        "relative to your home or absolute; required by apps that need one.",
    )


@router.get("/api/apps")
def list_apps(r: ReplicaDep, who: Principal = Depends(caller)) -> list[dict[str, Any]]:
    return [
        {
            "name": a.name,
            "title": a.title,
            "description": a.description,
            "cpus": a.cpus,
            "mem": a.mem,
            "time": a.time,
        }
        for a in r.apps.apps.values()
    ]


@router.post("/api/apps/sessions", status_code=201)
def launch(
    body: LaunchIn,
    r: ReplicaDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, object]:
    row = r.apps.launch(s, who, Launch(**body.model_dump()))
    _, job = r.apps.get(s, who, row.id)
    out = card(r.apps, row, job, read_policy(s)).record()
    s.commit()
    r.scheduler.wake()
    return out


@router.get("/api/apps/sessions")
async def list_sessions(
    request: Request, r: ReplicaDep, who: Principal = Depends(caller)
) -> list[dict[str, object]]:
    """Your sessions' cards, newest first. A session whose job runs is `running` once its app
    answers: those not known up yet are asked here (as the portal's cards do)."""

    def read() -> list[Card]:
        with r.db.session() as s:
            policy = read_policy(s)
            return [card(r.apps, row, job, policy) for row, job in r.apps.listing(s, who)]

    return [c.record() for c in await fresh_cards(request.app.state.app_proxy, read)]


@router.get("/api/apps/sessions/{session_id}")
async def show_session(
    session_id: str, request: Request, r: ReplicaDep, who: Principal = Depends(caller)
) -> dict[str, object]:
    """A session's card (404 if it is not yours); its app is asked whether it is up, as in
    the list."""

    def read() -> list[Card]:
        with r.db.session() as s:
            row, job = r.apps.get(s, who, session_id)
            return [card(r.apps, row, job, read_policy(s))]

    return (await fresh_cards(request.app.state.app_proxy, read))[0].record()


@router.post("/api/apps/sessions/{session_id}/extend")
def extend_session(
    session_id: str,
    body: ExtendIn,
    r: ReplicaDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, object]:
    """More time for a session (its job's time limit), within its QOS's and partition's
    limits: 400 naming the limit and how much may still be asked; 409 once it has ended."""
    r.apps.extend(s, who, session_id, parse_extra(body.by))
    row, job = r.apps.get(s, who, session_id)
    out = card(r.apps, row, job, read_policy(s)).record()
    s.commit()
    return out


@router.post("/api/apps/sessions/{session_id}/stop")
def stop_session(
    session_id: str,
    r: ReplicaDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, object]:
    r.apps.stop(s, who, session_id)
    row, job = r.apps.get(s, who, session_id)
    out = card(r.apps, row, job, read_policy(s)).record()
    s.commit()
    return out


class TrainingIn(BaseModel):
    args: list[str] = Field(
        description="`hai hep train` options and data as typed (`--model`, `--data`, "
        "`--epochs`, ...), without --out."
    )
    out: str = Field(description="The run folder, relative to your home or absolute.")
    name: str = ""
    cpus: int | None = None
    mem: str | None = None
    gpus: str | None = None
    time: str | None = None
    partition: str | None = None
    qos: str | None = None
    account: str | None = None


@router.post("/api/apps/trainings", status_code=201)
def submit_a_training(
    body: TrainingIn,
    r: ReplicaDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, object]:
    """A `hai hep train` job and its live dashboard (an app session on its run folder)."""
    job, row = submit_training(r.apps, s, who, TrainingSubmission(**body.model_dump()))
    _, session_job = r.apps.get(s, who, row.id)
    session = card(r.apps, row, session_job, read_policy(s)).record()
    out = {"job": job_out(s, job).model_dump(), "session": session, "url": session["url"]}
    s.commit()
    r.scheduler.wake()
    return out

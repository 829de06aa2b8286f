"""The server's side of campaigns (`/api/workflows`): whose they are, what they look like,
cancel, and the journal written for the API key's user.

A campaign belongs to the user whose key opened it; others get 404 (an admin sees and
cancels everyone's). Cancel is a flag in the campaign's row: its steering process reads it
with its heartbeat (about once a second), wherever it runs, cancels its running and queued
tasks and ends the campaign `cancelled`. A campaign whose steering process has not been heard
from for `stale_after` seconds (HAI_WORKFLOW_STALE_AFTER) is gone (killed, its host down):
cancel ends it here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hakutaku.db.models import User, WorkflowCampaign, WorkflowTask
from hakutaku.errors import Conflict, Forbidden, NotFound, PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.workflows import states, store

TASK_STATES = (states.PENDING, states.RUNNING, *sorted(states.FINAL))
CAMPAIGN_STATES = (states.CAMPAIGN_RUNNING, *sorted(states.CAMPAIGN_FINAL))
# Columns of a task row that may not be NULL, and those a new task's first row must give.
NOT_NULL = ("name", "kind", "pool", "cpus", "cards", "state", "attempts", "task_dir", "error",
            "cpu_seconds", "wall_seconds", "submitted_at")  # fmt: skip
FIRST_ROW = ("name", "kind", "state", "task_dir")


def _check_state(state: str | None, allowed: tuple[str, ...], what: str) -> None:
    if state is not None and state not in allowed:
        raise PlatformError(
            f"unknown {what} state {state!r}; states are {', '.join(allowed)}", param="state"
        )


def _user_id(s: Session, name: str) -> int:
    user_id = s.scalar(select(User.id).where(User.name == name))
    if user_id is None:
        raise NotFound(f"no user named {name!r}", param="user")
    return user_id


def listing(
    s: Session, who: Principal, *, user: str | None = None, state: str | None = None
) -> list[WorkflowCampaign]:
    """The caller's campaigns, newest first; an admin's: everyone's (or `user`'s)."""
    _check_state(state, CAMPAIGN_STATES, "campaign")
    query = select(WorkflowCampaign).order_by(WorkflowCampaign.id.desc())
    if user is not None and user != who.user:
        if not who.is_admin:
            raise Forbidden("Only admins may list other users' campaigns.")
        query = query.where(WorkflowCampaign.user_id == _user_id(s, user))
    elif user is not None or not who.is_admin:
        query = query.where(WorkflowCampaign.user_id == who.user_id)
    if state is not None:
        query = query.where(WorkflowCampaign.state == state)
    return list(s.scalars(query))


def get_campaign(
    s: Session, who: Principal, name: str, *, user: str | None = None, lock: bool = False
) -> WorkflowCampaign:
    """The caller's campaign `name` (an admin may name another `user`, or leave it out when
    only one user has a campaign of that name). 404 for what the caller may not see."""
    missing = NotFound(
        f"No campaign {name!r} of yours; `hai workflows list` lists them.", param="name"
    )
    query = select(WorkflowCampaign).where(WorkflowCampaign.name == name)
    if lock:
        query = query.with_for_update()
    if user is not None and user != who.user:
        if not who.is_admin:
            raise missing
        found = s.scalar(query.where(WorkflowCampaign.user_id == _user_id(s, user)))
    else:
        found = s.scalar(query.where(WorkflowCampaign.user_id == who.user_id))
        if found is None and who.is_admin and user is None:
            candidates = list(s.scalars(query))
            if len(candidates) > 1:
                owners = ", ".join(sorted(_owner(s, c) or "-" for c in candidates))
                raise Conflict(
                    f"{len(candidates)} users have a campaign {name!r} ({owners}); name the "
                    "one you mean with user=... (`--user` on the command line)",
                    param="user",
                )
            found = candidates[0] if candidates else None
    if found is None:
        raise missing
    return found


def _owner(s: Session, c: WorkflowCampaign) -> str | None:
    return s.scalar(select(User.name).where(User.id == c.user_id)) if c.user_id else None


def record(s: Session, c: WorkflowCampaign) -> dict[str, Any]:
    """A campaign as the API shows it: its row, its tasks counted by state, their totals."""
    counts = dict(
        s.execute(
            select(WorkflowTask.state, func.count())
            .where(WorkflowTask.campaign_id == c.id)
            .group_by(WorkflowTask.state)
        ).all()
    )
    cpu, wall = s.execute(
        select(
            func.coalesce(func.sum(WorkflowTask.cpu_seconds), 0.0),
            func.coalesce(func.sum(WorkflowTask.wall_seconds), 0.0),
        ).where(WorkflowTask.campaign_id == c.id)
    ).one()
    return {
        "id": c.id,
        "name": c.name,
        "owner": _owner(s, c),
        "profile": c.profile,
        "state": c.state,
        "run_dir": c.run_dir,
        "host": c.host,
        "pid": c.pid,
        "runs": c.runs,
        "cancel_requested": c.cancel_requested,
        "blocks_are_jobs": c.blocks_are_jobs,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "tasks": {state: int(n) for state, n in sorted(counts.items())},
        "cpu_seconds": float(cpu),
        "wall_seconds": float(wall),
    }


def task_records(
    s: Session, c: WorkflowCampaign, *, state: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    _check_state(state, TASK_STATES, "task")
    query = (
        select(WorkflowTask)
        .where(WorkflowTask.campaign_id == c.id)
        .order_by(WorkflowTask.id)
        .limit(limit)
        .offset(offset)
    )
    if state is not None:
        query = query.where(WorkflowTask.state == state)
    return [
        {
            "key": t.key,
            "name": t.name,
            "kind": t.kind,
            "pool": t.pool,
            "cpus": t.cpus,
            "cards": t.cards,
            "state": t.state,
            "attempts": t.attempts,
            "run": t.run,
            "submitted_at": t.submitted_at,
            "started_at": t.started_at,
            "ended_at": t.ended_at,
            "cpu_seconds": t.cpu_seconds,
            "wall_seconds": t.wall_seconds,
            "task_dir": t.task_dir,
            "result_ref": t.result_ref,
            "error": t.error,
        }
        for t in s.scalars(query)
    ]


def cancel(
    s: Session, who: Principal, name: str, *, user: str | None = None, stale_after: float = 30.0
) -> WorkflowCampaign:
    """Ask the campaign's steering process to stop; end it here if that process is gone."""
    c = get_campaign(s, who, name, user=user, lock=True)
    if c.state != states.CAMPAIGN_RUNNING:
        raise Conflict(f"Campaign {name!r} has already ended ({c.state}); nothing to cancel.")
    c.cancel_requested = True
    now = datetime.now(UTC)
    if now - c.updated_at > timedelta(seconds=stale_after):
        # Nobody will read the flag: no heartbeat for `stale_after` seconds.
        s.execute(
            update(WorkflowTask)
            .where(
                WorkflowTask.campaign_id == c.id,
                WorkflowTask.state.in_([states.PENDING, states.RUNNING]),
            )
            .values(
                state=states.CANCELLED,
                ended_at=now,
                error="cancelled with its campaign, whose steering process was gone",
            )
        )
        c.state, c.pid, c.updated_at = states.CAMPAIGN_CANCELLED, None, now
    s.flush()
    return c


# ------------------------------------------------------------------ the journal, for its owner


def start_run(
    s: Session, who: Principal, *, name: str, run_dir: str, profile: str, host: str, pid: int | None
) -> store.Opened:
    return store.open_run(
        s, user_id=who.user_id, name=name, run_dir=run_dir, profile=profile, host=host, pid=pid
    )


def _own_run(s: Session, who: Principal, name: str, run: int) -> WorkflowCampaign:
    c = s.scalar(
        select(WorkflowCampaign).where(
            WorkflowCampaign.name == name, WorkflowCampaign.user_id == who.user_id
        )
    )
    if c is None:
        raise NotFound(
            f"No campaign {name!r} of yours; a steering process opens it first (POST "
            "/api/workflows).",
            param="name",
        )
    store.check_run(s, c, run)
    return c


def write_tasks(
    s: Session,
    who: Principal,
    name: str,
    run: int,
    rows: list[dict[str, Any]],
    blocks_are_jobs: bool,
) -> bool:
    """Write the owner's task rows; answer whether a cancel was asked for (the heartbeat)."""
    c = _own_run(s, who, name, run)
    if rows:
        cleaned = [
            {k: v for k, v in row.items() if v is not None or k not in NOT_NULL} for row in rows
        ]
        known = set(
            s.scalars(
                select(WorkflowTask.key).where(
                    WorkflowTask.campaign_id == c.id,
                    WorkflowTask.key.in_({row["key"] for row in cleaned}),
                )
            )
        )
        for row in cleaned:
            missing = [f for f in FIRST_ROW if f not in row]
            if row["key"] not in known and missing:
                raise PlatformError(
                    f"task {row['key']!r} is new to campaign {name!r}: its first row must give "
                    f"{', '.join(FIRST_ROW)} (missing: {', '.join(missing)})",
                    param="tasks",
                )
        store.write_tasks(s, c.id, run, cleaned)
    store.set_blocks_are_jobs(s, c.id, blocks_are_jobs)
    return store.heartbeat(s, c.id)


def end_run(s: Session, who: Principal, name: str, run: int, state: str) -> WorkflowCampaign:
    c = _own_run(s, who, name, run)
    store.end_run(s, c.id, state)
    s.refresh(c)
    return c

"""The journal's rows in the platform's database: open a run of a campaign, write its tasks'
rows, beat its heart (and read its cancel flag), end the run.

Two callers: a steering process whose journal is on a database it reaches itself, and the
server's `/api/workflows`, which calls the same functions for the API key's user when the
journal goes through the platform (`hai workflows run`). Errors are `PlatformError`s with
the message for the user; the direct journal turns them into `WorkflowError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hakutaku.accounting.sql import insert_on_conflict
from hakutaku.db.models import WorkflowCampaign, WorkflowTask
from hakutaku.errors import Conflict, PlatformError
from hakutaku.workflows import states

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
NAME_RE = re.compile(NAME_PATTERN)
# The columns a journal write may set on a task row (campaign_id and key identify it).
TASK_FIELDS = (
    "name",
    "kind",
    "pool",
    "cpus",
    "cards",
    "state",
    "attempts",
    "task_dir",
    "result_ref",
    "error",
    "cpu_seconds",
    "wall_seconds",
    "submitted_at",
    "started_at",
    "ended_at",
)


@dataclass(frozen=True, slots=True)
class Journaled:
    """A task as a previous run of the campaign left it."""

    key: str
    state: str
    task_dir: str
    result_ref: str | None


@dataclass(frozen=True, slots=True)
class Opened:
    """A run just opened: the campaign's id, the run's number, its earlier tasks."""

    campaign_id: int
    run: int
    previous: dict[str, Journaled]


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise PlatformError(
            f"invalid campaign name {name!r}: use 1 to 128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (it names the campaign's folder too)",
            param="name",
        )
    return name


def open_run(
    s: Session,
    *,
    user_id: int | None,
    name: str,
    run_dir: str,
    profile: str,
    host: str,
    pid: int | None,
    blocks_are_jobs: bool = False,
) -> Opened:
    """Start a new run of the user's campaign `name` (creating the campaign the first time)."""
    check_name(name)
    row = s.scalar(
        select(WorkflowCampaign)
        .where(
            WorkflowCampaign.name == name,
            WorkflowCampaign.user_id.is_(None)
            if user_id is None
            else WorkflowCampaign.user_id == user_id,
        )
        .with_for_update()
    )
    if row is None:
        row = WorkflowCampaign(name=name, user_id=user_id, run_dir=run_dir, runs=0)
        s.add(row)
    elif row.run_dir != run_dir:
        raise Conflict(
            f"campaign {name!r} already ran in {row.run_dir}; resume it there or pick another name",
            param="run_dir",
        )
    row.profile = profile
    row.state = states.CAMPAIGN_RUNNING
    row.host = host
    row.pid = pid
    row.cancel_requested = False
    row.blocks_are_jobs = blocks_are_jobs
    row.runs = (row.runs or 0) + 1
    row.updated_at = datetime.now(UTC)
    s.flush()
    previous = {
        t.key: Journaled(t.key, t.state, t.task_dir, t.result_ref)
        for t in s.scalars(select(WorkflowTask).where(WorkflowTask.campaign_id == row.id))
    }
    return Opened(row.id, row.runs, previous)


def check_run(s: Session, campaign: WorkflowCampaign, run: int) -> None:
    """Only the latest run writes: a steering process left over from an earlier run (the
    campaign was started again meanwhile) is told so instead of mixing its rows in."""
    if run != campaign.runs:
        raise Conflict(
            f"run {run} of campaign {campaign.name!r} is not its latest (run {campaign.runs} "
            "started since); this steering process should stop",
            code="stale_run",
        )


def write_tasks(s: Session, campaign_id: int, run: int, rows: list[dict[str, Any]]) -> None:
    """Insert or update tasks' rows (each has `key` and some of TASK_FIELDS). A row written
    is of this run and not accounted yet; the ledger's unique reference (campaign, key, run)
    keeps a row written twice from being billed twice."""
    prepared = []
    for row in rows:
        fields = {k: v for k, v in row.items() if k in TASK_FIELDS}
        fields.update(key=row["key"], campaign_id=campaign_id, run=run, accounted=False)
        prepared.append(fields)
    # Rows of one statement need the same columns: group them by their key sets. Each group
    # is one statement executed for all its rows (executemany); a statement with a VALUES
    # tuple per row is compiled anew for every batch size (~165 us a row, more than a no-op
    # task costs Parsl), this one once.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for fields in prepared:
        groups.setdefault(tuple(sorted(fields)), []).append(fields)
    dialect = s.get_bind().dialect.name
    for columns, group in groups.items():
        s.connection().execute(_upsert(s, dialect, columns), group)


_UPSERTS: dict[tuple[str, tuple[str, ...]], Any] = {}


def _upsert(s: Session, dialect: str, columns: tuple[str, ...]) -> Any:
    """The upsert of rows with these columns, built once per dialect and column set (building
    it, `excluded` above all, took ~1.5 ms: more than writing a batch of 20 rows)."""
    statement = _UPSERTS.get((dialect, columns))
    if statement is None:
        insert = insert_on_conflict(s, WorkflowTask.__table__)
        statement = insert.on_conflict_do_update(
            index_elements=["campaign_id", "key"],
            set_={
                c: insert.excluded[c]
                for c in columns
                if c in TASK_FIELDS or c in ("run", "accounted")
            },
        )
        _UPSERTS[(dialect, columns)] = statement
    return statement


def heartbeat(s: Session, campaign_id: int) -> bool:
    """The steering process is alive: note it; say whether a cancel was asked for."""
    s.execute(
        update(WorkflowCampaign)
        .where(WorkflowCampaign.id == campaign_id)
        .values(updated_at=datetime.now(UTC))
    )
    return bool(
        s.scalar(
            select(WorkflowCampaign.cancel_requested).where(WorkflowCampaign.id == campaign_id)
        )
    )


def set_blocks_are_jobs(s: Session, campaign_id: int, blocks_are_jobs: bool) -> None:
    """Note whether the campaign's blocks are the owner's platform jobs (billed as jobs)."""
    s.execute(
        update(WorkflowCampaign)
        .where(
            WorkflowCampaign.id == campaign_id,
            WorkflowCampaign.blocks_are_jobs != blocks_are_jobs,
        )
        .values(blocks_are_jobs=blocks_are_jobs)
    )


def end_run(s: Session, campaign_id: int, state: str) -> None:
    if state not in states.CAMPAIGN_FINAL:
        raise PlatformError(
            f"a campaign ends finished, failed or cancelled, not {state!r}", param="state"
        )
    s.execute(
        update(WorkflowCampaign)
        .where(WorkflowCampaign.id == campaign_id)
        .values(state=state, pid=None, updated_at=datetime.now(UTC))
    )

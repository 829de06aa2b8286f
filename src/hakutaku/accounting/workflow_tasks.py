"""Workflow tasks in the ledger: the cores (and cards) each finished task held, for as long as
it ran, billed to its campaign's owner.

One row per task, resource and run: source `workflow`, ref `CAMPAIGN_ID/KEY/RUN`, `cpu`
core-hours (cpus x wall time, as jobs are billed for the cores they hold) and `gpu`
card-hours when the task asked for cards. The ref is unique with the resource, so a row
written twice changes nothing: a resumed campaign, which answers its finished tasks from the
journal without running them, bills none of them again, while a task that failed or was
cancelled in one run and ran again in the next is billed for each run it ran in.

Not billed: tasks of campaigns with no owner (journaled outside the platform), and tasks of
campaigns whose blocks are the owner's platform jobs (`blocks_are_jobs`): those jobs are in
the ledger already, and billing their tasks too would charge the same cores twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hakutaku.accounting.periods import period_of
from hakutaku.accounting.resources import CPU, HOUR, unit_hours
from hakutaku.accounting.sql import insert_on_conflict
from hakutaku.db.models import LedgerEntry, WorkflowCampaign, WorkflowTask

WORKFLOW = "workflow"
CARD = "gpu"  # tasks ask for cards by number; the ledger's kind for them
BATCH = 500
FINAL = ("done", "failed", "timeout", "cancelled")


def task_ref(campaign_id: int, key: str, run: int) -> str:
    return f"{campaign_id}/{key}/{run}"


def task_usage(task: WorkflowTask) -> dict[str, Decimal]:
    """Resource -> hours: the task's cores and cards for its wall time (0s are left out)."""
    seconds = Decimal(str(task.wall_seconds or 0.0))
    usage = {CPU: unit_hours(task.cpus, seconds)}
    if task.cards > 0:
        usage[CARD] = unit_hours(task.cards, seconds)
    return {resource: hours for resource, hours in usage.items() if hours > 0}


def collect_workflow_tasks(session: Session) -> tuple[int, int]:
    """Write ledger rows for finished, unaccounted tasks and mark them accounted; answers
    (tasks accounted, ledger rows new)."""
    tasks = entries = 0
    while True:
        batch = session.execute(
            select(WorkflowTask, WorkflowCampaign.user_id, WorkflowCampaign.blocks_are_jobs)
            .join(WorkflowCampaign, WorkflowCampaign.id == WorkflowTask.campaign_id)
            .where(WorkflowTask.accounted.is_(False), WorkflowTask.state.in_(FINAL))
            .order_by(WorkflowTask.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True, of=WorkflowTask)
        ).all()
        rows: list[dict[str, Any]] = []
        for task, user_id, blocks_are_jobs in batch:
            if user_id is None or blocks_are_jobs:
                continue
            ended = task.ended_at or datetime.now(UTC)
            for resource, hours in task_usage(task).items():
                rows.append(
                    {
                        "ts": ended,
                        "period": period_of(ended),
                        "user_id": user_id,
                        "account": None,
                        "source": WORKFLOW,
                        "ref": task_ref(task.campaign_id, task.key, task.run),
                        "resource": resource,
                        "quantity": float(hours),
                        "unit": HOUR,
                    }
                )
        for start in range(0, len(rows), BATCH):
            written = session.scalars(
                insert_on_conflict(session, LedgerEntry)
                .values(rows[start : start + BATCH])
                .on_conflict_do_nothing()
                .returning(LedgerEntry.id)
            ).all()
            entries += len(written)  # rows already there return nothing
        # Marked per run: a row the steering process rewrote for a newer run meanwhile
        # stays unaccounted, and is billed on the next pass.
        by_run: dict[int, list[int]] = defaultdict(list)
        for task, _, _ in batch:
            by_run[task.run].append(task.id)
        for run, ids in by_run.items():
            session.execute(
                update(WorkflowTask)
                .where(WorkflowTask.id.in_(ids), WorkflowTask.run == run)
                .values(accounted=True)
            )
        tasks += len(batch)
        if len(batch) < BATCH:
            return tasks, entries

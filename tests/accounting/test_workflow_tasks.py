"""Workflow tasks in the ledger: cores and cards held for each finished task's wall time,
billed to the campaign's owner once per run the task ran in, and never twice (SQLite and
PostgreSQL, through the journal's own store functions)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from hakutaku.accounting.ledger import collect
from hakutaku.accounting.resources import to_decimal
from hakutaku.db.models import LedgerEntry, WorkflowTask
from hakutaku.db.session import Database
from hakutaku.workflows import store
from tests.accounting.conftest import T0, user_id


def task(
    key: str, state: str = "done", cpus: int = 1, cards: int = 0, wall: float = 1800.0
) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "kind": "python",
        "pool": "default",
        "cpus": cpus,
        "cards": cards,
        "state": state,
        "attempts": 1,
        "task_dir": f"/runs/{key}",
        "result_ref": f"/runs/{key}" if state == "done" else None,
        "error": "",
        "cpu_seconds": wall / 2,
        "wall_seconds": wall,
        "submitted_at": T0,
        "started_at": T0,
        "ended_at": T0 + timedelta(seconds=wall),
    }


def open_run(db: Database, user: str | None, name: str = "scan") -> store.Opened:
    with db.session() as s:
        owner = user_id(s, user) if user else None
        return store.open_run(
            s, user_id=owner, name=name, run_dir=f"/runs/{name}", profile="local", host="h", pid=1
        )


def write(db: Database, opened: store.Opened, rows: list[dict[str, Any]]) -> None:
    with db.session() as s:
        store.write_tasks(s, opened.campaign_id, opened.run, rows)


def ledger(db: Database) -> dict[tuple[str, str], tuple[Decimal, int | None, str]]:
    """(ref, resource) -> (hours, user id, period) of the workflow rows."""
    with db.session() as s:
        return {
            (e.ref, e.resource): (to_decimal(e.quantity), e.user_id, e.period)
            for e in s.scalars(select(LedgerEntry).where(LedgerEntry.source == "workflow"))
        }


def collect_now(db: Database) -> tuple[int, int]:
    with db.session() as s:
        counts = collect(s)
    return counts.workflow_tasks, counts.workflow_entries


def test_finished_tasks_bill_their_cores_and_cards_once(db: Database) -> None:
    run = open_run(db, "alice")
    write(
        db,
        run,
        [
            task("a", cpus=4, wall=1800),
            task("b", state="cancelled", cards=2, wall=900),
            task("c", state="running"),
            task("d", state="failed", wall=0.0),  # failed before it started: nothing used
        ],
    )
    assert collect_now(db) == (3, 3)
    with db.session() as s:
        alice = user_id(s, "alice")
    cid = run.campaign_id
    assert ledger(db) == {
        (f"{cid}/a/1", "cpu"): (Decimal(2), alice, "2025-03"),  # 4 cores x 0.5 h
        (f"{cid}/b/1", "cpu"): (Decimal("0.25"), alice, "2025-03"),
        (f"{cid}/b/1", "gpu"): (Decimal("0.5"), alice, "2025-03"),  # 2 cards x 0.25 h
    }
    assert collect_now(db) == (0, 0)  # nothing new

    # The running task ends; the journal rewrites a finished one (a retried flush): only the
    # new one is billed, the rewritten one is not billed again.
    write(db, run, [task("c", wall=360), task("a", cpus=4, wall=1800)])
    assert collect_now(db) == (2, 1)
    assert ledger(db)[(f"{cid}/c/1", "cpu")][0] == Decimal("0.1")
    assert len(ledger(db)) == 4


def test_a_resumed_campaign_bills_only_what_ran_again(db: Database) -> None:
    first = open_run(db, "bob")
    write(db, first, [task("done-once"), task("cut-short", state="cancelled", wall=360)])
    collect_now(db)
    # The next run answers "done-once" from the journal (no row written for it) and runs the
    # cancelled task again.
    second = open_run(db, "bob")
    assert second.run == 2 and second.previous["done-once"].state == "done"
    write(db, second, [task("cut-short", wall=720)])
    collect_now(db)
    cid = first.campaign_id
    assert {ref: hours for (ref, _), (hours, _, _) in ledger(db).items()} == {
        f"{cid}/done-once/1": Decimal("0.5"),
        f"{cid}/cut-short/1": Decimal("0.1"),
        f"{cid}/cut-short/2": Decimal("0.2"),
    }
    with db.session() as s:
        rows = s.scalars(select(WorkflowTask).where(WorkflowTask.campaign_id == cid)).all()
        assert all(r.accounted for r in rows)


def test_no_bill_without_an_owner_or_when_blocks_are_jobs(db: Database) -> None:
    ownerless = open_run(db, None, "laptop")
    write(db, ownerless, [task("x")])
    on_jobs = open_run(db, "carol", "on-slurm")
    with db.session() as s:
        store.set_blocks_are_jobs(s, on_jobs.campaign_id, True)
    write(db, on_jobs, [task("y", cards=1)])
    assert collect_now(db) == (2, 0)  # accounted, with no rows
    assert ledger(db) == {}

"""Prefetch: tasks handed to Parsl ahead, each waiting on a running task's lease, keep pools
honest (no pool runs more than its CPUs, no two running tasks share a core), can be cancelled
before they start (they never run) and survive a rebalance without overcommitting cores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hakutaku.db.models import WorkflowTask
from hakutaku.db.session import Database
from hakutaku.workflows import Campaign, TaskCancelled, TaskFuture, WorkflowError
from hakutaku.workflows.proctree import tree_pids
from tests.workflows import tasks
from tests.workflows.conftest import wait_for


@pytest.fixture
def two_pools(tmp_path: Path) -> Iterator[Campaign]:
    c = Campaign(
        "prefetch",
        pools={"a": 1, "b": 1},
        run_dir=tmp_path / "run",
        database_url=f"sqlite:///{tmp_path}/h.db",
        prefetch=2,
    )
    try:
        yield c
    finally:
        c.close(wait=False)


def handed_to_parsl(futures: list[TaskFuture]) -> int:
    return sum(1 for f in futures if f.state == "running")


def test_prefetched_tasks_respect_pool_limits(two_pools: Campaign, tmp_path: Path) -> None:
    seen = tmp_path / "running"
    seen.mkdir()
    a = [two_pools.submit(tasks.occupy, str(seen), "a", 0.3, pool="a") for _ in range(5)]
    b = [two_pools.submit(tasks.occupy, str(seen), "b", 0.3, pool="b") for _ in range(5)]
    # One running per pool and the prefetch (2) behind them: more in Parsl than CPUs.
    wait_for(lambda: handed_to_parsl(a + b) == 4, 60, "4 tasks handed to Parsl")
    reports = [f.result(timeout=120) for f in a + b]
    assert max(r["pool"] for r in reports) == 1  # never 2 of a 1-CPU pool at once
    assert max(r["all"] for r in reports) <= 2
    assert all(r["shared"] == 0 for r in reports)  # pinned cores stay each task's own
    assert sum(r["all"] == 2 for r in reports) > 0  # the two pools did run side by side


def test_a_prefetched_task_cancelled_before_it_starts_never_runs(
    two_pools: Campaign, tmp_path: Path
) -> None:
    log = tmp_path / "ran.txt"
    running = two_pools.submit(tasks.sleep_tree, 60, 0, pool="a")
    wait_for(lambda: tree_pids(running.task_dir), 60, "the first task to run")
    # (submitted once the first runs: tasks on one lease start in no promised order)
    waiting = two_pools.submit(tasks.counted, 1, str(log), 0, pool="a")
    assert waiting.state == "running" and not waiting.done()  # prefetched, not started
    assert waiting.cancel()
    # It ends while the task ahead of it still runs: it did not wait for the lease.
    with pytest.raises(TaskCancelled, match="before it started"):
        waiting.result(timeout=5)
    assert not running.done()
    # It does not hold the slot: the next task goes behind the running one and runs after it.
    after = two_pools.submit(tasks.add, 2, 3, pool="a")
    wait_for(lambda: after.state == "running", 5, "the next task to be prefetched")
    assert running.cancel()
    assert after.result(timeout=10) == 5
    assert not log.exists()  # the cancelled task never ran
    two_pools.journal.flush()
    db = Database(f"sqlite:///{tmp_path}/h.db")
    with db.session() as s:
        state = s.scalar(select(WorkflowTask.state).where(WorkflowTask.key == waiting.key))
    db.dispose()
    assert state == "cancelled"


def test_rebalance_with_prefetched_tasks_does_not_overcommit(
    tmp_path: Path,
) -> None:
    seen = tmp_path / "running"
    seen.mkdir()
    with Campaign(
        "shrink",
        pools={"sim": 2, "train": 0},
        run_dir=tmp_path / "run",
        database_url=f"sqlite:///{tmp_path}/h.db",
        prefetch=2,
    ) as c:
        sims = [c.submit(tasks.occupy, str(seen), "sim", 0.4, pool="sim") for _ in range(6)]
        wait_for(lambda: handed_to_parsl(sims) == 4, 60, "2 running and 2 prefetched")
        c.rebalance("sim", "train", 1)
        trains = [c.submit(tasks.occupy, str(seen), "train", 0.4, pool="train") for _ in range(3)]
        reports = [f.result(timeout=120) for f in sims + trains]
        assert c.pools.sizes() == {"sim": 1, "train": 1}
    assert max(r["all"] for r in reports) <= 2  # the campaign's 2 CPUs, never more
    assert all(r["shared"] == 0 for r in reports)
    assert max(r["pool"] for r in reports[len(sims) :]) == 1
    # After the shrink "sim" ran alone at most once more per lease, then one at a time.
    last_sims = reports[4 : len(sims)]
    assert all(r["pool"] == 1 for r in last_sims)


def test_multi_cpu_tasks_with_prefetch(two_pools: Campaign, tmp_path: Path) -> None:
    two_pools.rebalance("b", "a", 1)  # pool a: 2 CPUs
    seen = tmp_path / "running"
    seen.mkdir()
    wide = [two_pools.submit(tasks.occupy, str(seen), "a", 0.2, pool="a", cpus=2) for _ in range(4)]
    reports = [f.result(timeout=120) for f in wide]
    assert all(r["cpus"] == 2 for r in reports)  # each had its 2 cores
    assert max(r["all"] for r in reports) == 1  # a 2-CPU task fills the 2-CPU pool


def test_results_and_journal_with_prefetch(two_pools: Campaign, tmp_path: Path) -> None:
    futures = [two_pools.submit(tasks.add, i, 1, pool="ab"[i % 2]) for i in range(60)]
    assert [f.result(timeout=120) for f in futures] == [i + 1 for i in range(60)]
    two_pools.journal.flush()
    db = Database(f"sqlite:///{tmp_path}/h.db")
    with db.session() as s:
        rows = s.scalars(select(WorkflowTask)).all()
    db.dispose()
    assert len(rows) == 60
    assert {r.state for r in rows} == {"done"}
    assert all(r.started_at is not None and r.attempts == 1 for r in rows)


def test_prefetch_must_be_a_count(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="prefetch must be a whole number"):
        Campaign(
            "bad", run_dir=tmp_path / "run", database_url=f"sqlite:///{tmp_path}/h.db", prefetch=-1
        )

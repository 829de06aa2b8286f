"""The resident runner: a Parsl worker's Python tasks run one after another in one long-lived
child of it. A late cancel never reaches the next task, a crashed interpreter fails only its
task, CPU seconds stay each task's own, and each task gets its own folder and environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from hakutaku.db.models import WorkflowTask
from hakutaku.workflows import Campaign, TaskCancelled, TaskFailed, TaskFuture
from hakutaku.workflows.execute import CANCEL_FILE
from hakutaku.workflows.journal import DatabaseBackend
from hakutaku.workflows.proctree import (
    kill_recorded,
    read_pid,
    start_time,
    tree_pids,
    write_pid,
)
from tests.workflows import tasks
from tests.workflows.conftest import wait_for


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    """One worker (no prefetch: no spare worker), so every task runs in the same runner until
    one is killed."""
    base = tmp_path_factory.mktemp("runner")
    c = Campaign(
        "runner",
        pools={"default": 1},
        run_dir=base / "run",
        database_url=f"sqlite:///{base}/h.db",
        prefetch=0,
    )
    try:
        c.submit(tasks.noop).result(timeout=120)  # the worker and its runner are up
        yield c
    finally:
        c.close(wait=False)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_late_cancel_of_a_finished_task_never_kills_the_next(one_slot: Campaign) -> None:
    first = one_slot.submit(tasks.runner_pid)
    runner = first.result(timeout=60)
    assert not first.cancel()  # it has ended
    assert read_pid(first.task_dir) is None  # its record went when it ended
    following = one_slot.submit(tasks.hold_then_pid, 1.0)
    wait_for(lambda: tree_pids(following.task_dir), 60, "the next task to run")
    assert tree_pids(following.task_dir)[0] == runner  # in the same runner
    # The first task's cancel arrives now: its cancel file (as from another host) ...
    (first.task_dir / CANCEL_FILE).touch()
    # ... and the steering side's kill by a record that names the (shared) runner.
    write_pid(first.task_dir, runner, start_time(runner), shared=True)
    assert not kill_recorded(first.task_dir)
    assert following.result(timeout=30) == runner
    assert following.state == "done"
    assert alive(runner)


def test_cancel_kills_the_runner_and_the_next_task_gets_a_fresh_one(one_slot: Campaign) -> None:
    running = one_slot.submit(tasks.sleep_tree, 60, 1)
    wait_for(lambda: len(tree_pids(running.task_dir)) >= 2, 60, "the task's tree to start")
    runner, child = tree_pids(running.task_dir)[:2]
    assert running.cancel()
    with pytest.raises(TaskCancelled):
        running.result(timeout=10)
    fresh = one_slot.submit(tasks.runner_pid).result(timeout=60)
    assert fresh != runner
    wait_for(lambda: not alive(runner) and not alive(child), 5, "the killed tree to be gone")


@pytest.mark.parametrize(
    ("crash", "how"),
    [
        (lambda c: c.submit(tasks.exit_interpreter, 3), "exited with code 3"),
        (lambda c: c.submit(tasks.segfault), "was killed by SIGSEGV"),
    ],
    ids=["os._exit", "segfault"],
)
def test_a_crashed_interpreter_fails_its_task_and_the_next_runs_fresh(
    one_slot: Campaign, crash: Callable[[Campaign], TaskFuture], how: str
) -> None:
    before = one_slot.submit(tasks.runner_pid).result(timeout=60)
    crashed = crash(one_slot)
    with pytest.raises(TaskFailed, match=f"interpreter running the task {how}"):
        crashed.result(timeout=60)
    assert "fresh interpreter" in (crashed.task_dir / "error.txt").read_text()
    after = one_slot.submit(tasks.runner_pid).result(timeout=60)
    assert after != before
    assert not alive(before)


def test_cpu_seconds_are_each_tasks_own(one_slot: Campaign) -> None:
    here = one_slot.submit(tasks.burn_cpu, 0.3, False)
    runner = here.result(timeout=60)
    in_child = one_slot.submit(tasks.burn_cpu, 0.3, True)
    assert in_child.result(timeout=60) == runner
    quiet = one_slot.submit(tasks.runner_pid)
    assert quiet.result(timeout=60) == runner  # the same interpreter, which used 0.6 s before
    assert here.cpu_seconds >= 0.25
    assert in_child.cpu_seconds >= 0.25  # a child it waited for counts
    assert quiet.cpu_seconds < 0.1  # the earlier tasks' CPU time is not counted again
    one_slot.journal.flush()
    backend = one_slot.journal.backend
    assert isinstance(backend, DatabaseBackend)
    with backend.db.session() as s:
        journaled = s.scalar(select(WorkflowTask.cpu_seconds).where(WorkflowTask.key == here.key))
    assert journaled == pytest.approx(here.cpu_seconds)


def test_each_task_gets_its_folder_and_environment(one_slot: Campaign, tmp_path: Path) -> None:
    runner = one_slot.submit(tasks.wander_off, str(tmp_path)).result(timeout=60)
    where = one_slot.submit(tasks.where_am_i)
    cwd, task_dir, omp, cores = where.result(timeout=60)
    assert one_slot.submit(tasks.runner_pid).result(timeout=60) == runner
    assert cwd == task_dir == str(where.task_dir)
    assert omp == "1"
    assert cores == 1  # the campaign pins its one slot to one core


def test_tasks_of_one_worker_share_an_interpreter(one_slot: Campaign) -> None:
    """As in plain Parsl: module state of one task is there for the next (documented)."""
    first = one_slot.submit(tasks.remember, "a").result(timeout=60)
    assert one_slot.submit(tasks.remember, "b").result(timeout=60) == first + 1

"""Steering: agents submit and react to results (the thinker pattern); pools are rebalanced
while tasks run."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from hakutaku.workflows import Campaign, TaskFuture
from hakutaku.workflows.proctree import tree_pids
from tests.workflows import tasks
from tests.workflows.conftest import wait_for


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    base = tmp_path_factory.mktemp("steer")
    c = Campaign(
        "steer",
        pools={"simulate": 1, "train": 1},
        run_dir=base / "run",
        database_url=f"sqlite:///{base}/h.db",
    )
    try:
        yield c
    finally:
        c.close(wait=False)


def running(futures: list[TaskFuture]) -> int:
    return sum(1 for f in futures if not f.done() and tree_pids(f.task_dir))


def test_rebalance_while_running(pooled: Campaign) -> None:
    sims = [pooled.submit(tasks.hold, 2.0, pool="simulate") for _ in range(3)]
    wait_for(lambda: running(sims) == 1, 60, "one simulation to run")
    # The pool has one CPU: the others wait (prefetched behind the running one, or queued).
    assert sum(1 for f in sims if not f.done() and not tree_pids(f.task_dir)) == 2
    pooled.rebalance("train", "simulate", 1)
    wait_for(lambda: running(sims) == 2, 5, "the moved CPU to run a second simulation")
    assert pooled.pools.sizes() == {"simulate": 2, "train": 0}
    for f in sims:
        f.cancel()
    pooled.rebalance("simulate", "train", 1)


def test_agents_submit_and_process_results(pooled: Campaign) -> None:
    """A submitter agent keeps two tasks in flight; a result processor collects results and
    tells the submitter when to stop (a dynamic task graph: new tasks from results)."""
    results: list[int] = []
    slots = threading.Semaphore(2)
    enough = threading.Event()

    @pooled.on_result(pool="train")
    def collect(fut: TaskFuture) -> None:
        results.append(fut.result())
        if len(results) >= 6:
            enough.set()
        slots.release()

    @pooled.agent
    def submitter(c: Campaign) -> None:
        i = 0
        while not enough.is_set():
            if slots.acquire(timeout=0.1):
                c.submit(tasks.add, i, 100, pool="train")
                i += 1

    pooled.run_agents(timeout=60)
    assert len(results) >= 6
    assert sorted(results)[:6] == [100, 101, 102, 103, 104, 105]

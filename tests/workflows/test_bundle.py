"""Bundles: short tasks of a deep queue go to Parsl several at a time as one Parsl task. They
form only for task names known to be short and a queue deeper than the pool's slots; a member
can be cancelled before it starts or while it runs (the others complete), a failing member is
retried alone, a campaign killed in the middle of a bundle resumes without redoing its
finished members, and a waiting bundle comes back when a rebalance frees CPUs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from hakutaku.db.models import WorkflowTask
from hakutaku.db.session import Database
from hakutaku.workflows import Campaign, TaskCancelled, TaskFuture, WorkflowError, bundles, refs
from hakutaku.workflows.bundles import BUNDLE_SECONDS, SHORT_SECONDS, WallTimes, bundle_size
from hakutaku.workflows.proctree import tree_pids
from tests.workflows import tasks
from tests.workflows.conftest import wait_for

REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------- choosing the size


@dataclass
class Spec:
    name: str
    cpus: int = 1


@dataclass
class Queued:
    spec: Spec
    attempts: int = 0


def queue(*names: str, cpus: int = 1) -> deque[Queued]:
    return deque(Queued(Spec(name, cpus)) for name in names)


def learnt(**typical: float) -> WallTimes:
    walls = WallTimes()
    for name, seconds in typical.items():
        walls.add(name, seconds)
    return walls


def test_a_deep_queue_of_a_short_name_is_bundled_within_its_bounds() -> None:
    walls = learnt(short=0.001)
    assert bundle_size(queue(*["short"] * 100), 2, 16, walls) == 16  # the campaign's limit
    assert bundle_size(queue(*["short"] * 100), 2, 4, walls) == 4
    # every slot of the pool gets as many: 10 queued, 2 slots: 5 each
    assert bundle_size(queue(*["short"] * 10), 2, 16, walls) == 5
    # the expected wall time of a bundle stays under BUNDLE_SECONDS
    slowish = learnt(s=SHORT_SECONDS * 0.9)
    assert bundle_size(queue(*["s"] * 100), 1, 16, slowish) == int(
        BUNDLE_SECONDS // (SHORT_SECONDS * 0.9)
    )


def test_unknown_long_retried_and_lone_tasks_are_never_bundled() -> None:
    walls = learnt(short=0.001, long=0.5)
    assert bundle_size(queue(*["new"] * 50), 2, 16, walls) == 1  # never seen: alone
    assert bundle_size(queue(*["long"] * 50), 2, 16, walls) == 1
    assert bundle_size(queue("short"), 1, 16, walls) == 1  # the sequential case
    assert bundle_size(queue("short", "short", "short"), 2, 16, walls) == 1  # a slot idle
    retried = queue(*["short"] * 50)
    retried[0].attempts = 1
    assert bundle_size(retried, 2, 16, walls) == 1  # a retry goes alone
    assert bundle_size(queue(*["short"] * 50), 2, 1, walls) == 1  # bundle=1: none
    # a bundle stops at the first task that does not fit: another name or CPU count
    mixed = queue("short", "short", "new", *["short"] * 50)
    assert bundle_size(mixed, 2, 16, walls) == 2
    wide = queue("short", "short", *["short"] * 50)
    wide[2].spec.cpus = 2
    assert bundle_size(wide, 2, 16, walls) == 2


def test_a_name_that_turns_long_stops_being_bundled() -> None:
    walls = learnt(task=0.001)
    for _ in range(20):
        walls.add("task", 0.001)
    walls.add("task", 10.0)  # one long outcome
    assert bundle_size(queue(*["task"] * 50), 1, 16, walls) == 1


def test_bundle_must_be_a_count(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="bundle must be a whole number"):
        Campaign(
            "bad", run_dir=tmp_path / "run", database_url=f"sqlite:///{tmp_path}/h.db", bundle=-1
        )


# ---------------------------------------------------------------------- in a campaign


@pytest.fixture
def roomy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The campaign tests are about what bundles do, not about this shared machine's speed:
    a task of a few ms counts as short even when the machine is loaded."""
    monkeypatch.setattr(bundles, "SHORT_SECONDS", 0.05)
    monkeypatch.setattr(bundles, "BUNDLE_SECONDS", 1.0)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def one_slot(tmp_path: Path, roomy: None) -> Iterator[Campaign]:
    """One worker, no prefetch: queued tasks wait in the campaign until the slot is free."""
    c = Campaign(
        "bundles",
        pools={"default": 1},
        run_dir=tmp_path / "run",
        database_url=f"sqlite:///{tmp_path}/h.db",
        prefetch=0,
        bundle=8,
    )
    try:
        learn(c, "gated", tmp_path)
        yield c
    finally:
        c.close(wait=False)


def learn(c: Campaign, name: str, tmp_path: Path, pool: str = "default") -> None:
    """Teach the campaign that `name` is short: a few of them, one at a time (alone)."""
    before = c.submissions
    for i in range(3):
        f = c.submit(tasks.gated, 1000 + i, str(tmp_path / "warm"), "", name=name, pool=pool)
        assert f.result(timeout=120) == 1000 + i
    assert c.submissions == before + 3 and c.bundled == 0


def hold_the_slot(c: Campaign, tmp_path: Path, pool: str = "default") -> tuple[TaskFuture, Path]:
    gate = tmp_path / "blocker-gate"
    blocker = c.submit(
        tasks.gated, -1, str(tmp_path / "blocker"), str(gate), name="blocker", pool=pool
    )
    wait_for(lambda: tree_pids(blocker.task_dir), 60, "the blocker to run")
    return blocker, gate


def ran(log: Path) -> Counter[int]:
    return Counter(int(line) for line in log.read_text().split()) if log.exists() else Counter()


def journaled(tmp_path: Path, c: Campaign) -> dict[str, WorkflowTask]:
    c.journal.flush()
    db = Database(f"sqlite:///{tmp_path}/h.db")
    with db.session() as s:
        rows = {row.key: row for row in s.scalars(select(WorkflowTask))}
    db.dispose()
    return rows


def test_a_deep_queue_of_short_tasks_goes_to_parsl_in_bundles(tmp_path: Path, roomy: None) -> None:
    with Campaign(
        "deep",
        pools={"default": 2},
        run_dir=tmp_path / "run",
        database_url=f"sqlite:///{tmp_path}/h.db",
    ) as c:
        assert c.submit(tasks.add, 0, 1).result(timeout=120) == 1  # "add" is short now
        before = c.submissions
        futures = [c.submit(tasks.add, i, 1) for i in range(300)]
        assert [f.result(timeout=120) for f in futures] == [i + 1 for i in range(300)]
        handed = c.submissions - before
        assert handed < 300 // 2, f"{handed} Parsl tasks for 300 short tasks"
        assert c.bundled > 300 // 2
        # one at a time (a queue of one) never goes in a bundle
        bundled, before = c.bundled, c.submissions
        for i in range(5):
            assert c.submit(tasks.add, i, 2).result(timeout=60) == i + 2
        assert c.bundled == bundled and c.submissions == before + 5
    rows = journaled(tmp_path, c)
    assert len(rows) == 306 and {r.state for r in rows.values()} == {"done"}
    assert all(r.attempts == 1 and r.started_at is not None for r in rows.values())
    assert all(r.wall_seconds > 0 for r in rows.values())


def test_long_tasks_are_not_bundled(tmp_path: Path) -> None:
    with Campaign(
        "long",
        pools={"default": 1},
        run_dir=tmp_path / "run",
        database_url=f"sqlite:///{tmp_path}/h.db",
    ) as c:
        c.submit(tasks.hold, 0.02).result(timeout=120)  # 20 ms: not short
        before = c.submissions
        futures = [c.submit(tasks.hold, 0.02) for _ in range(8)]
        for f in futures:
            f.result(timeout=120)
        assert c.bundled == 0 and c.submissions == before + 8


def test_cancel_members_before_they_start_and_while_they_run(
    one_slot: Campaign, tmp_path: Path
) -> None:
    c = one_slot
    log, gate = tmp_path / "log", tmp_path / "gate"
    blocker, blocker_gate = hold_the_slot(c, tmp_path)
    members = [
        c.submit(tasks.gated, i, str(log), str(gate) if i == 0 else "", name="gated")
        for i in range(6)
    ]
    assert all(m.state == "pending" for m in members)  # the slot is taken, no prefetch
    before = c.submissions
    blocker_gate.touch()
    assert blocker.result(timeout=60) == -1
    # The six go as one Parsl task; the first holds it (it waits for its gate).
    wait_for(lambda: tree_pids(members[0].task_dir), 60, "the bundle's first member to run")
    assert c.submissions == before + 1 and c.bundled == 6
    runner = tree_pids(members[0].task_dir)
    assert members[3].cancel()  # not started yet: it never runs
    assert members[0].cancel()  # running: its tree is killed, the others run after it
    with pytest.raises(TaskCancelled, match="while running"):
        members[0].result(timeout=10)
    with pytest.raises(TaskCancelled, match="before it started"):
        members[3].result(timeout=10)
    assert [members[i].result(timeout=30) for i in (1, 2, 4, 5)] == [1, 2, 4, 5]
    assert ran(log) == Counter({0: 1, 1: 1, 2: 1, 4: 1, 5: 1})
    wait_for(lambda: not any(alive(p) for p in runner), 5, "the killed runner to go")
    rows = journaled(tmp_path, c)
    assert rows[members[3].key].state == "cancelled" and rows[members[0].key].state == "cancelled"
    assert all(rows[members[i].key].state == "done" for i in (1, 2, 4, 5))


def test_a_failing_member_is_retried_alone(one_slot: Campaign, tmp_path: Path) -> None:
    c = one_slot
    blocker, gate = hold_the_slot(c, tmp_path)
    log = str(tmp_path / "log")
    marker = str(tmp_path / "marker")
    futures = [
        c.submit(tasks.flaky, marker, name="gated", retries=1)
        if i == 1
        else c.submit(tasks.gated, i, log, "", name="gated", retries=1)
        for i in range(9)
    ]
    before = c.submissions
    gate.touch()
    assert blocker.result(timeout=60) == -1
    assert futures[1].result(timeout=60) == "ok after 2"
    assert [f.result(timeout=60) for i, f in enumerate(futures) if i != 1] == [
        0,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
    ]
    assert futures[1].attempts == 2
    assert all(f.attempts == 1 for i, f in enumerate(futures) if i != 1)
    # A bundle of 8 (the campaign's limit), then the retry alone, then the one left alone;
    # the retry in a bundle with it would have made two Parsl tasks.
    assert c.submissions == before + 3
    assert ran(tmp_path / "log") == Counter(range(9)) - Counter([1])


def test_a_waiting_bundle_comes_back_when_a_rebalance_frees_cpus(
    tmp_path: Path, roomy: None
) -> None:
    with Campaign(
        "rebind",
        pools={"sim": 1, "spare": 1},
        run_dir=tmp_path / "run",
        database_url=f"sqlite:///{tmp_path}/h.db",
        prefetch=1,
    ) as c:
        learn(c, "short", tmp_path, pool="sim")
        blocker, gate = hold_the_slot(c, tmp_path, pool="sim")
        log = str(tmp_path / "log")
        first = c.submit(tasks.gated, 0, log, "", name="short", pool="sim")  # prefetched
        rest = [c.submit(tasks.gated, i, log, "", name="short", pool="sim") for i in range(1, 7)]
        assert first.state == "running" and all(f.state == "pending" for f in rest)
        assert first.cancel()  # (it had not started: the prefetch is free for a bundle)
        wait_for(lambda: all(f.state == "running" for f in rest), 10, "the rest to be prefetched")
        assert c.bundled == 6  # one bundle, waiting behind the blocker
        c.rebalance("spare", "sim", 1)
        # The bundle is asked back and runs on the new CPU while the blocker still runs.
        assert [f.result(timeout=60) for f in rest] == list(range(1, 7))
        assert not blocker.done()
        gate.touch()
        assert blocker.result(timeout=60) == -1
    rows = journaled(tmp_path, c)
    assert all(rows[f.key].state == "done" and rows[f.key].attempts == 1 for f in rest)
    assert ran(tmp_path / "log") == Counter(range(1, 7))


def test_a_campaign_killed_in_a_bundle_resumes_without_redoing_its_finished_members(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'hai.db'}"
    log, gate = tmp_path / "log", tmp_path / "gate"
    count, wait_at = 8, 5

    def command() -> list[str]:
        args = [str(tmp_path / "run"), url, str(log), str(gate), str(count), str(wait_at)]
        return [sys.executable, "-m", "tests.workflows.bundle_campaign", *args]

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(command(), cwd=REPO, env=env, start_new_session=True)
    db = Database(url)
    try:
        # Step 0 runs alone, steps 1-7 as one bundle, held at step 5 (its gate is closed).
        wait_for(lambda: ran(log)[wait_at] == 1, 120, "the bundle to reach its held step")
        os.killpg(first.pid, signal.SIGKILL)  # the campaign, its interchange and workers
        first.wait(timeout=10)
        with db.session() as s:
            done = set(s.scalars(select(WorkflowTask.key).where(WorkflowTask.state == "done")))
        # Steps 1-4 ended in the bundle, which never reported: their results are on disk only.
        on_disk = {_result_of(tmp_path, key): key for key in _finished(tmp_path)}
        assert set(range(1, wait_at)) <= set(on_disk)
        assert all(on_disk[i] not in done for i in range(1, wait_at))

        gate.touch()
        second = subprocess.run(
            command(), cwd=REPO, env=env, capture_output=True, text=True, timeout=180
        )
        assert second.returncode == 0, second.stderr[-3000:]
        report = json.loads(second.stdout.strip().splitlines()[-1])
        assert report["results"] == list(range(count))
        runs = ran(log)
        assert all(runs[i] == 1 for i in range(wait_at)), runs  # finished before the kill
        # The held step ran again, or was finished by the killed run's runner (it dies with
        # its worker, which may outlive the campaign's group until Parsl's heartbeat ends
        # it) once the gate opened, and adopted from its result file.
        assert runs[wait_at] in (1, 2)
        assert all(runs[i] == 1 for i in range(wait_at + 1, count))
        with db.session() as s:
            after = list(s.scalars(select(WorkflowTask)))
        assert len(after) == 3 + count and all(r.state == "done" for r in after)
        # what the adopted members used came from their worker's usage log
        assert all(r.wall_seconds > 0 for r in after)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        db.dispose()


def _finished(tmp_path: Path) -> list[str]:
    folder = tmp_path / "run" / "tasks"
    return [key for key in os.listdir(folder) if refs.has_result(folder / key)]


def _result_of(tmp_path: Path, key: str) -> int:
    value: int = refs.load(tmp_path / "run" / "tasks" / key)
    return value

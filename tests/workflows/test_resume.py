"""A campaign killed mid-run (SIGKILL to its real process group) and run again resumes from
its journal: no task that was journaled done runs a second time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from hakutaku.db.models import WorkflowCampaign, WorkflowTask
from hakutaku.db.session import Database
from tests.workflows.conftest import wait_for

REPO = Path(__file__).resolve().parents[2]
TASKS = 12


def command(tmp_path: Path, url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.workflows.resume_campaign",
        str(tmp_path / "run"),
        url,
        str(tmp_path / "log.txt"),
        str(TASKS),
    ]


def done_keys(db: Database) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(WorkflowTask.key).where(WorkflowTask.state == "done")))


def test_killed_campaign_resumes_without_redoing_finished_tasks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hai.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(command(tmp_path, url), cwd=REPO, env=env, start_new_session=True)
    db = Database(url)
    try:
        # the journal's tables exist once the campaign has started
        wait_for(lambda: (tmp_path / "hai.db").exists(), 60, "the campaign to start")
        wait_for(lambda: len(_safe_done(db)) >= 4, 120, "four tasks journaled done")
        os.killpg(first.pid, signal.SIGKILL)  # the campaign, its interchange and workers
        first.wait(timeout=10)
        finished_before = done_keys(db)
        assert 4 <= len(finished_before) < TASKS, "the kill came after the campaign ended"

        second = subprocess.run(
            command(tmp_path, url), cwd=REPO, env=env, capture_output=True, text=True, timeout=180
        )
        assert second.returncode == 0, second.stderr[-3000:]
        report = json.loads(second.stdout.strip().splitlines()[-1])
        assert report["results"] == [i * i for i in range(TASKS)]
        assert report["reused"] >= len(finished_before)

        runs = Counter(int(line) for line in (tmp_path / "log.txt").read_text().split())
        assert set(runs) == set(range(TASKS))
        with db.session() as s:
            rows = s.scalars(select(WorkflowTask)).all()
            by_key = {row.key: row for row in rows}
            campaign = s.scalars(select(WorkflowCampaign)).one()
        assert finished_before <= set(by_key)
        # every task journaled done before the kill ran exactly once
        finished_indices = {_index_of(tmp_path, key) for key in finished_before}
        assert all(runs[i] == 1 for i in finished_indices), runs
        assert all(row.state == "done" for row in rows) and len(rows) == TASKS
        assert campaign.state == "finished"
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        db.dispose()


def _safe_done(db: Database) -> set[str]:
    try:
        return done_keys(db)
    except Exception:  # the migration is still creating the tables
        return set()


def _index_of(tmp_path: Path, key: str) -> int:
    """The task's argument `i`, read back from its result (i * i)."""
    import math

    from hakutaku.workflows import refs

    return math.isqrt(refs.load(tmp_path / "run" / "tasks" / key))

"""The journal on a database: rows written by the writer process, outside the steering
process; a writer that dies loses nothing (the steering process writes every row itself)."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from hakutaku.db.models import WorkflowCampaign, WorkflowTask
from hakutaku.db.session import Database
from hakutaku.workflows import environment, journal_writer
from hakutaku.workflows.journal import Journal
from tests.workflows.conftest import wait_for


def new_task(journal: Journal, key: str) -> None:
    journal.record(
        key,
        name=key,
        kind="python",
        pool="default",
        cpus=1,
        cards=0,
        state="pending",
        attempts=0,
        task_dir=f"/nowhere/{key}",
        result_ref=None,
        cpu_seconds=0.0,
        wall_seconds=0.0,
        submitted_at=datetime.now(UTC),
    )


def states_in(url: str) -> dict[str, str]:
    db = Database(url)
    try:
        with db.session() as s:
            return {t.key: t.state for t in s.scalars(select(WorkflowTask))}
    finally:
        db.dispose()


def open_journal(url: str, tmp_path: Path) -> Journal:
    return Journal(environment.journal_backend(url, None), "j", str(tmp_path), "local")


def test_rows_are_written_by_the_writer_process(db_url: str, tmp_path: Path) -> None:
    journal = open_journal(db_url, tmp_path)
    writer = journal._writer
    assert writer is not None and writer.process.pid != os.getpid()
    for i in range(50):
        new_task(journal, f"t{i}")
    journal.record("t3", state="done", cpu_seconds=1.5)
    journal.flush()  # returns once the writer has written them
    assert writer.written == writer.sent >= 1
    found = states_in(db_url)
    assert len(found) == 50 and found["t3"] == "done" and found["t4"] == "pending"
    journal.close("finished")
    assert writer.process.returncode == 0
    db = Database(db_url)
    with db.session() as s:
        assert s.scalars(select(WorkflowCampaign.state)).one() == "finished"
        ended = s.scalar(select(WorkflowTask.ended_at).where(WorkflowTask.key == "t3"))
    db.dispose()
    assert ended is not None


def test_a_dead_writer_loses_no_row(db_url: str, tmp_path: Path) -> None:
    journal = open_journal(db_url, tmp_path)
    for i in range(10):
        new_task(journal, f"t{i}")
    journal.flush()
    writer = journal._writer
    assert writer is not None
    os.kill(writer.process.pid, signal.SIGKILL)
    writer.process.wait()
    # Recorded after it died: written by the steering process's own thread.
    journal.record("t1", state="done")
    new_task(journal, "late")
    journal.flush()
    assert journal._writer is None
    found = states_in(db_url)
    assert found["t1"] == "done" and "late" in found and len(found) == 11
    journal.record("t2", state="failed", error="boom")
    wait_for(lambda: states_in(db_url).get("t2") == "failed", 10, "the thread to write t2")
    journal.close("failed")


def test_the_writer_merges_batches_and_answers_the_last(db_url: str, tmp_path: Path) -> None:
    journal = open_journal(db_url, tmp_path)
    campaign_id, run = journal.campaign_id, journal.run
    journal.close("finished")
    writer = journal_writer.WriterProcess(db_url)
    row = {
        "key": "k",
        "name": "k",
        "kind": "python",
        "pool": "default",
        "cpus": 1,
        "cards": 0,
        "attempts": 1,
        "task_dir": "/nowhere",
        "result_ref": None,
        "error": "",
        "cpu_seconds": 0.0,
        "wall_seconds": 0.0,
        "submitted_at": datetime.now(UTC),
        "ended_at": None,
    }
    for state in ("pending", "running", "done"):
        writer.send(campaign_id, run, [row | {"state": state}], False)
    assert writer.close(30)
    assert writer.written == 3
    assert states_in(db_url) == {"k": "done"}  # the last of the three batches wins


def test_a_writer_given_a_bad_database_fails_and_says_so(tmp_path: Path) -> None:
    writer = journal_writer.WriterProcess(f"sqlite:///{tmp_path}/no/such/dir/h.db")
    writer.send(1, 1, [{"key": "k", "state": "done"}], False)
    assert writer.process.wait(60) == 1  # it could not write the batch
    assert not writer.wait_written(1, 1)
    with pytest.raises(OSError):  # the journal then writes the rows itself
        writer.send(1, 1, [{"key": "k", "state": "done"}], False)
    assert not writer.close(10)

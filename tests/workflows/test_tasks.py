"""Tasks on real Parsl (local profile): Python functions and executables, results by
reference, failures, retries, timeouts and per-task CPUs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hakutaku.workflows import Campaign, TaskFailed, TaskTimeout, WorkflowError
from hakutaku.workflows.refs import RESULT
from hakutaku.workflows.runner import PICKLED_CALL, pack_call, unpack_call
from tests.workflows import tasks


def test_python_and_executable_tasks(campaign: Campaign, tmp_path: Path) -> None:
    total = campaign.submit(tasks.add, 2, 3)
    out = tmp_path / "out.txt"
    exe = campaign.run(["sh", "-c", f"echo $HAI_TASK_CPUS > {out}; echo hello"])
    assert total.result(timeout=120) == 5
    assert exe.result(timeout=60) == 0
    assert out.read_text().strip() == "1"
    assert (exe.task_dir / "stdout.txt").read_text() == "hello\n"
    assert total.state == "done" and total.attempts == 1


def test_large_arrays_come_back_by_reference(campaign: Campaign) -> None:
    fut = campaign.submit(tasks.big_array, 200_000)
    value = fut.result(timeout=60)
    assert isinstance(value["x"], np.memmap)  # read from the task's file, not unpickled
    np.testing.assert_array_equal(value["x"], np.arange(200_000, dtype=np.float64))
    # the pickle holds only a reference: far smaller than the 1.6 MB array
    assert (fut.task_dir / RESULT).stat().st_size < 1000
    assert value["n"] == 200_000


def test_a_failing_task_says_why(campaign: Campaign) -> None:
    fut = campaign.submit(tasks.fail, "the detector is off")
    with pytest.raises(TaskFailed, match="the detector is off"):
        fut.result(timeout=60)
    bad = campaign.run(["sh", "-c", "echo broken >&2; exit 3"])
    with pytest.raises(TaskFailed, match="exited with code 3"):
        bad.result(timeout=60)
    assert bad.state == "failed"


def test_retries_rerun_a_failed_task(campaign: Campaign, tmp_path: Path) -> None:
    fut = campaign.submit(tasks.flaky, str(tmp_path / "attempts"), retries=1)
    assert fut.result(timeout=60) == "ok after 2"
    assert fut.attempts == 2


def test_timeout_kills_the_task(campaign: Campaign) -> None:
    fut = campaign.submit(tasks.sleep_tree, 30, 1, timeout=0.5)
    with pytest.raises(TaskTimeout, match=r"timeout of 0\.5 s"):
        fut.result(timeout=30)


def test_per_task_cpus_are_pinned(campaign: Campaign) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to pin a two-CPU task")
    assert campaign.submit(tasks.cpus_seen, cpus=2).result(timeout=60) == (2, "2")
    assert campaign.submit(tasks.cpus_seen).result(timeout=60) == (1, "1")


def test_bad_input_is_refused_clearly(campaign: Campaign) -> None:
    with pytest.raises(WorkflowError, match="no pool named 'gpu'"):
        campaign.submit(tasks.noop, pool="gpu")
    with pytest.raises(WorkflowError, match="asks for 9 CPUs"):
        campaign.submit(tasks.noop, cpus=9)
    with pytest.raises(WorkflowError, match="cpus must be at least 1"):
        campaign.submit(tasks.noop, cpus=0)
    with pytest.raises(WorkflowError, match="cannot be pickled"):
        campaign.submit(tasks.add, lambda: 1, 2)
    with pytest.raises(WorkflowError, match="needs a command"):
        campaign.run([])


def test_calls_pickle_plainly_when_they_can_and_in_parsls_format_else(
    campaign: Campaign,
) -> None:
    plain = pack_call(tasks.add, (2, 3), {})
    assert plain.startswith(PICKLED_CALL)
    offset = 10

    def shifted(x: int) -> int:  # a closure: the standard pickler cannot name it
        return x + offset

    packed = pack_call(shifted, (1,), {})
    assert not packed.startswith(PICKLED_CALL)
    fn, args, kwargs = unpack_call(packed)
    assert fn(*args, **kwargs) == 11
    assert campaign.submit(shifted, 5).result(timeout=60) == 15
    assert campaign.submit(lambda a, b=1: a * b, 6, b=7).result(timeout=60) == 42
    assert campaign.submit(tasks.add, 4, 5).result(timeout=60) == 9

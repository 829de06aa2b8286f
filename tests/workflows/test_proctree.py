"""Process records: a task's `pid` record names its process by pid and start time, on Linux
in seconds since boot (psutil's epoch time moves by a second when the kernel's whole-second
boot time steps with a clock adjustment, and the record then named no process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from hakutaku.workflows.proctree import kill_recorded, read_pid, start_time, tree_pids, write_pid


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/<pid>/stat is Linux's")
def test_start_time_is_seconds_since_boot() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        since_boot = psutil.Process(child.pid).create_time() - psutil.boot_time()
        assert start_time(child.pid) == pytest.approx(since_boot, abs=0.02)
    finally:
        child.kill()
        child.wait()
    with pytest.raises(psutil.NoSuchProcess):
        start_time(child.pid)


def test_a_record_names_its_process_and_only_it(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        write_pid(tmp_path, child.pid)
        recorded = read_pid(tmp_path)
        assert recorded is not None and recorded.pid == child.pid and not recorded.shared
        assert tree_pids(tmp_path) == [child.pid]
        # a record whose start is another process's (the pid reused) names nothing
        write_pid(tmp_path, child.pid, start_time(child.pid) - 1.0)
        assert tree_pids(tmp_path) == [] and not kill_recorded(tmp_path)
        assert child.poll() is None
        write_pid(tmp_path, child.pid)
        assert kill_recorded(tmp_path)
        assert child.wait(timeout=5) != 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

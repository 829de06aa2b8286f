"""The worker side of a task: what runs inside a Parsl worker for every platform task.

The task itself runs in a forked child that leads its own session (Python function or
executable alike): the worker waits for it, watches for the cancel file and the timeout, and
kills the child's whole tree on either, so the Parsl worker (the slot) is free as soon as the
tree is gone. The child dies with its worker (PR_SET_PDEATHSIG), so a killed campaign leaves
no orphans computing. Only a small outcome dict returns through Parsl; the result is a file.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hakutaku.workflows import refs
from hakutaku.workflows.proctree import kill_tree, write_pid

CANCEL_FILE = "cancel"
ERROR_FILE = "error.txt"
# The attempt's CPU and wall seconds, beside its result: a campaign killed before it journaled
# the task done still learns (and bills) what the task used when it adopts the result.
USAGE_FILE = "usage.json"
POLL_SECONDS = 0.05  # how often a worker looks for the cancel file written from another host
PR_SET_PDEATHSIG = 1


def cancel_requested(folder: Path) -> bool:
    return (folder / CANCEL_FILE).exists()


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one task attempt described by `spec` and say how it ended."""
    folder = Path(spec["task_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    if cancel_requested(folder):
        return {"state": "cancelled", "error": "cancelled before it started"}
    started = time.monotonic()
    pid = _spawn(spec, folder)
    write_pid(folder, pid)
    state, status, usage = _wait(pid, folder, spec.get("timeout"))
    outcome: dict[str, Any] = {
        "state": state,
        "wall_seconds": time.monotonic() - started,
        "cpu_seconds": usage.ru_utime + usage.ru_stime if usage is not None else 0.0,
        "exit_code": os.waitstatus_to_exitcode(status) if status is not None else None,
        "error": "",
    }
    if state == "ended":
        if spec["kind"] == "python":
            outcome["state"] = "done" if refs.has_result(folder) else "failed"
        else:
            outcome["state"] = "done" if outcome["exit_code"] == 0 else "failed"
        if outcome["state"] == "failed":
            outcome["error"] = _error_text(folder, outcome["exit_code"])
    elif state == "timeout":
        outcome["error"] = f"ran past its timeout of {spec.get('timeout')} s and was killed"
    else:
        outcome["error"] = "cancelled while running; its process tree was killed"
    _write_usage(folder, outcome)
    return outcome


def _write_usage(folder: Path, outcome: dict[str, Any]) -> None:
    usage = {k: outcome[k] for k in ("cpu_seconds", "wall_seconds")}
    with contextlib.suppress(OSError):
        (folder / USAGE_FILE).write_text(json.dumps(usage))


def read_usage(folder: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the folder's last attempt; zeros when unknown."""
    try:
        usage = json.loads((folder / USAGE_FILE).read_text())
        return float(usage["cpu_seconds"]), float(usage["wall_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0, 0.0


def _error_text(folder: Path, exit_code: int | None) -> str:
    try:
        return (folder / ERROR_FILE).read_text()[-4000:]
    except OSError:
        return f"exited with code {exit_code}"


def _spawn(spec: dict[str, Any], folder: Path) -> int:
    """Fork the child that runs the task; it leads a new session and dies with this worker."""
    # Flush before forking so the child does not write out the parent's buffered output again.
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _child_setup(spec, folder)
        if spec["kind"] == "python":
            code = _run_python(spec["fn"], spec["args"], spec["kwargs"], folder)
        else:
            _exec(spec["argv"], folder)
    except BaseException:
        _write_error(folder)
    finally:
        os._exit(code)


def _child_setup(spec: dict[str, Any], folder: Path) -> None:
    os.setsid()
    # Not on Linux: the platform's resume still kills leftovers by their recorded pids.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9)
    cores = spec.get("cores")
    if cores:
        os.sched_setaffinity(0, cores)
    cpus = str(spec.get("cpus", 1))
    checkpoint = folder.parent.parent / "checkpoints" / spec["slot"]
    checkpoint.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "OMP_NUM_THREADS": cpus,
            "HAI_TASK_CPUS": cpus,
            "HAI_TASK_CARDS": str(spec.get("cards", 0)),
            "HAI_TASK_DIR": str(folder),
            "HAI_CHECKPOINT_DIR": str(checkpoint),
        }
    )
    os.chdir(folder)


def _run_python(fn: Callable[..., Any], args: Any, kwargs: Any, folder: Path) -> int:
    try:
        value = fn(*args, **kwargs)
        refs.store(value, folder)
    except BaseException:
        _write_error(folder)
        return 1
    return 0


def _exec(argv: list[str], folder: Path) -> None:
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        target = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    os.execvp(argv[0], argv)


def _write_error(folder: Path) -> None:
    with contextlib.suppress(OSError):
        (folder / ERROR_FILE).write_text(traceback.format_exc())


def _wait(pid: int, folder: Path, timeout: float | None) -> tuple[str, int | None, Any]:
    """Wait for the child; kill its tree on cancel or timeout. (state, wait status, rusage)."""
    deadline = time.monotonic() + timeout if timeout else None
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            ready, _, _ = select.select([pidfd], [], [], POLL_SECONDS)
            if ready:
                _, status, usage = os.wait4(pid, 0)
                if cancel_requested(folder):
                    # Killed by the platform directly; descendants may linger in other groups.
                    kill_tree(pid)
                    return "cancelled", status, usage
                return "ended", status, usage
            if cancel_requested(folder) or (deadline and time.monotonic() > deadline):
                state = "cancelled" if cancel_requested(folder) else "timeout"
                kill_tree(pid)
                _, status, usage = os.wait4(pid, 0)
                return state, status, usage
    finally:
        os.close(pidfd)

"""Process trees a task leaves behind: each task runs as the leader of its own session, so the
platform can kill everything it started (its children, an executable's children, mpiexec's
ranks) with one signal to the group, plus any descendant that moved to a group of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

import psutil

PID_FILE = "pid"


def write_pid(folder: Path, pid: int) -> None:
    """Record where the task's process runs: host, pid and its start time (so a later kill
    never hits an unrelated process that reused the pid)."""
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        started = 0.0
    partial = folder / (PID_FILE + ".part")
    partial.write_text(f"{socket.gethostname()} {pid} {started!r}\n")
    os.replace(partial, folder / PID_FILE)


def read_pid(folder: Path) -> tuple[str, int, float] | None:
    try:
        host, pid, started = (folder / PID_FILE).read_text().split()
    except (OSError, ValueError):
        return None
    return host, int(pid), float(started)


def kill_tree(pid: int) -> None:
    """SIGKILL the session led by `pid` and every descendant of it."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for child in descendants:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            child.kill()


def kill_recorded(folder: Path) -> bool:
    """Kill the task recorded in `folder` if it runs on this host and is still the same
    process; False when it is elsewhere (its worker then sees the cancel file) or gone."""
    recorded = read_pid(folder)
    if recorded is None or recorded[0] != socket.gethostname():
        return False
    _, pid, started = recorded
    try:
        if abs(psutil.Process(pid).create_time() - started) > 0.01:
            return False
    except psutil.NoSuchProcess:
        return False
    kill_tree(pid)
    return True


def tree_pids(folder: Path) -> list[int]:
    """The task's process and its descendants now (for tests and `show`)."""
    recorded = read_pid(folder)
    if recorded is None:
        return []
    try:
        root = psutil.Process(recorded[1])
        return [root.pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []

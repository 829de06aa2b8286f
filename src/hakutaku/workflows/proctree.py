"""Process trees a task leaves behind: each task runs in a process that leads its own session
(an executable's own process, or the worker's resident runner for Python tasks), so the
platform can kill everything it started (its children, an executable's children, mpiexec's
ranks) with one signal to the group, plus any descendant that moved to a group of its own.

A task's folder holds a `pid` record while the task runs: host, pid, the process's start time
(so that a kill never hits an unrelated process that reused the pid; on Linux in seconds since
boot, from /proc/<pid>/stat: the epoch time psutil gives is boot time + that, and the kernel's
boot time is whole seconds that move by one when the clock is adjusted, so a process started
before such a step no longer matched its record) and, for a resident
runner, the word `shared`: that process runs other tasks before and after this one, so only
its worker, which knows which task it runs now, may kill it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

PID_FILE = "pid"
SHARED = "shared"
_HOST = socket.gethostname()
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SAME_START = 0.01  # seconds: a process whose start differs more from the record is another


def start_time(pid: int) -> float:
    """When the process `pid` started: seconds since boot on Linux (not moved by clock
    adjustments), else psutil's time since the epoch. psutil.NoSuchProcess when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            raise psutil.NoSuchProcess(pid) from None
        return float(psutil.Process(pid).create_time())
    # after "pid (command) ": state is the 3rd field, starttime the 22nd
    return int(stat[stat.rindex(b")") + 2 :].split()[19]) / _TICKS


@dataclass(frozen=True, slots=True)
class Recorded:
    host: str
    pid: int
    started: float
    shared: bool  # a resident runner: it outlives the task


def write_pid(
    folder: str | os.PathLike[str], pid: int, started: float | None = None, shared: bool = False
) -> None:
    """Record the process that runs the task in `folder` (`started`: its `start_time`)."""
    if started is None:
        try:
            started = start_time(pid)
        except psutil.NoSuchProcess:
            started = 0.0
    line = f"{_HOST} {pid} {started!r}{' ' + SHARED if shared else ''}\n"
    # One short write: a reader sees the whole line or an empty file (read as no record).
    fd = os.open(os.path.join(folder, PID_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def clear_pid(folder: str | os.PathLike[str]) -> None:
    """The task no longer runs: its record must not name a process that runs something else."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(folder, PID_FILE))


def read_pid(folder: Path) -> Recorded | None:
    try:
        host, pid, started, *rest = (folder / PID_FILE).read_text().split()
        return Recorded(host, int(pid), float(started), rest == [SHARED])
    except (OSError, ValueError):
        return None


def kill_tree(pid: int) -> None:
    """SIGKILL the process `pid`, the session it leads and every descendant of it."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)  # not yet the leader of its session (just forked)
    for child in descendants:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            child.kill()


def kill_recorded(folder: Path, *, shared_too: bool = False) -> bool:
    """Kill the task recorded in `folder` if it runs on this host and is still the same
    process; False when it is elsewhere or gone (its worker then sees the cancel file).

    A shared process (a resident runner) is killed only with `shared_too`, for a record left
    by an earlier run of the campaign: in this run the runner may already run the next task,
    and only its worker knows which task it runs."""
    recorded = read_pid(folder)
    if recorded is None or recorded.host != _HOST or (recorded.shared and not shared_too):
        return False
    try:
        if abs(start_time(recorded.pid) - recorded.started) > SAME_START:
            return False
    except psutil.NoSuchProcess:
        return False
    kill_tree(recorded.pid)
    return True


def tree_pids(folder: Path) -> list[int]:
    """The running task's process and its descendants now (for tests and `show`)."""
    recorded = read_pid(folder)
    if recorded is None:
        return []
    try:
        root = psutil.Process(recorded.pid)
        if abs(start_time(recorded.pid) - recorded.started) > SAME_START:
            return []  # the pid was reused
        return [root.pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []

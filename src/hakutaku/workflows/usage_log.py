"""What each task attempt used (CPU and wall seconds), as its worker saw it: one line per
attempt appended to its worker's log in the campaign's `usage/` folder.

A campaign killed before it journaled a task done still learns (and bills) what the task used
when the next run adopts its result from disk. One append to a file the worker keeps open
costs a write; a file per task (the former `usage.json`) cost an inode per task.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

FOLDER = "usage"

_logs: dict[str, int] = {}  # this worker's open log per campaign folder


def append(
    run_dir: str | os.PathLike[str], key: str, cpu_seconds: float, wall_seconds: float
) -> None:
    """Record one attempt of the task `key` (never raises: the record is a help for resume)."""
    with contextlib.suppress(OSError):
        run_dir = os.fspath(run_dir)
        fd = _logs.get(run_dir)
        if fd is None:
            folder = os.path.join(run_dir, FOLDER)
            os.makedirs(folder, exist_ok=True)
            name = f"{socket.gethostname()}-{os.getpid()}.log"
            fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _logs[run_dir] = fd
        # One short write with O_APPEND: a line is whole or absent.
        os.write(fd, f"{key} {cpu_seconds!r} {wall_seconds!r}\n".encode())


def read(run_dir: Path) -> dict[str, tuple[float, float]]:
    """(CPU seconds, wall seconds) of each task's last recorded attempt, by key."""
    usage: dict[str, tuple[float, float]] = {}
    folder = run_dir / FOLDER
    try:
        logs = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
    except OSError:
        return usage
    for log in logs:
        with contextlib.suppress(OSError):
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) != 3:
                    continue  # a line cut by a kill
                with contextlib.suppress(ValueError):
                    usage[parts[0]] = (float(parts[1]), float(parts[2]))
    return usage

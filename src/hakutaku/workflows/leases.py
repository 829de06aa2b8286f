"""Leases: a pool's CPUs as the campaign hands them to Parsl, so that tasks can wait in Parsl
(prefetched) without a pool ever running more than its CPUs.

A lease is a number of CPUs of one pool, with its cores when the campaign pins them. The
campaign opens one when a pool has free CPUs for the task at the head of its queue; the task
runs on it. While that task runs, the campaign may hand Parsl more tasks of the same pool and
CPU count on the same lease (prefetched, up to the campaign's `prefetch` Parsl tasks in all; a
bundle of short tasks, `hakutaku.workflows.bundles`, is one): each goes to
a spare Parsl worker and waits there until the lease is free, then starts at once, with no
round trip to the steering process in between (the tasks waiting on one lease start one
after another, in no promised order). The lease stays counted against its pool from the
first task until the last one on it has ended, so a pool's CPUs cover its running tasks and
those waiting in Parsl alike.

Exclusion is a `flock` on the lease's file (`leases/<number>` in the campaign's folder): the
task that holds it runs, the one behind it blocks in the kernel and wakes as the lock goes (a
process that dies holding it lets go too). A waiting task looks at its cancel file every
POLL_SECONDS, so a cancel reaches it before it starts; it then never runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Generic, TypeVar

T = TypeVar("T")

FOLDER = "leases"
POLL_SECONDS = 0.05  # how often a task waiting for its lease looks for its cancel file

# ---------------------------------------------------------------------- the steering side


@dataclass(eq=False, slots=True)
class Lease(Generic[T]):
    number: int
    pool: str
    cpus: int
    cores: list[int]
    tasks: list[T] = field(default_factory=list)  # handed to Parsl on it; the first runs
    submissions: int = 0  # Parsl tasks on it (a bundle is one, whatever its members)

    @property
    def prefetched(self) -> int:
        return max(0, self.submissions - 1)


class Leases(Generic[T]):
    """The open leases of a campaign. Numbers are reused, so the folder holds at most as many
    lock files as the campaign ever had leases open at once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._prefix = f"{folder}{os.sep}"
        self.open_leases: list[Lease[T]] = []
        self._free_numbers: list[int] = []
        self._next = 0
        self.prefetched = 0  # tasks in Parsl behind another task, in all

    def open(self, pool: str, cpus: int, cores: list[int]) -> Lease[T]:
        if self._free_numbers:
            number = self._free_numbers.pop()
        else:
            number, self._next = self._next, self._next + 1
        lease = Lease[T](number, pool, cpus, cores)
        self.open_leases.append(lease)
        return lease

    def close(self, lease: Lease[T]) -> None:
        self.open_leases.remove(lease)
        self._free_numbers.append(lease.number)

    def add(self, lease: Lease[T], tasks: list[T]) -> None:
        """`tasks` go to Parsl on `lease` as one Parsl task (more than one: a bundle, run
        one after another in this order). A Parsl task behind another one is prefetched."""
        lease.tasks.extend(tasks)
        lease.submissions += 1
        if lease.submissions > 1:
            self.prefetched += 1

    def remove(self, lease: Lease[T], task: T, *, last: bool = True) -> None:
        """`task` ended; `last`: it was the last of its Parsl task (always, outside bundles)."""
        lease.tasks.remove(task)
        if last:
            if lease.submissions > 1:
                self.prefetched -= 1
            lease.submissions -= 1

    def behind(self, pool: str, cpus: int) -> Lease[T] | None:
        """The open lease of `pool` with `cpus` CPUs that has the fewest tasks waiting."""
        best: Lease[T] | None = None
        for lease in self.open_leases:
            fits = lease.pool == pool and lease.cpus == cpus
            if fits and (best is None or len(lease.tasks) < len(best.tasks)):
                best = lease
        return best

    def path(self, lease: Lease[T]) -> str:
        return f"{self._prefix}{lease.number}"


# ---------------------------------------------------------------------- the worker side

_held: int | None = None  # the lock file this worker holds now (a child it forks drops it)
_armed = False  # SIGALRM may end the wait (only while blocked in flock)
_installed = False  # our SIGALRM handler is in place (and _previous is what it replaced)
_previous: Any = None


class _Cancelled(Exception):
    pass


def acquire(path: str, cancelled: Callable[[], bool], *, look: bool = True) -> bool:
    """Wait until this process holds the lease at `path`; False (and not held) when
    `cancelled()` became true while waiting, or was true once it was held. `look=False`:
    the caller knows it was not cancelled before it came here (it is looked at only when
    the lease had to be waited for)."""
    global _held
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _wait(fd, cancelled)
            look = True
        # A cancel written while this task waited (or just before it got the lock).
        if look and cancelled():
            raise _Cancelled
    except _Cancelled:
        _disarm()  # whatever moment the alarm's exception came in
        os.close(fd)
        return False
    except BaseException:
        _disarm()
        os.close(fd)
        raise
    _held = fd
    return True


def _wait(fd: int, cancelled: Callable[[], bool]) -> None:
    """Block until the lock is ours; raise _Cancelled when `cancelled()` while waiting."""
    global _armed, _installed, _previous
    if threading.current_thread() is not threading.main_thread():
        # No signals off the main thread: poll (Parsl's workers run tasks on their main one).
        while True:
            if cancelled():
                raise _Cancelled
            with contextlib.suppress(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            time.sleep(0.001)

    def look(signum: int, frame: FrameType | None) -> None:
        if _armed and cancelled():
            raise _Cancelled

    # The kernel wakes the blocked flock as the lock goes; SIGALRM interrupts it every
    # POLL_SECONDS to look for a cancel (the handler raising ends the wait).
    _previous = signal.signal(signal.SIGALRM, look)
    _installed = _armed = True
    signal.setitimer(signal.ITIMER_REAL, POLL_SECONDS, POLL_SECONDS)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _disarm()


def _disarm() -> None:
    global _armed, _installed
    _armed = False  # from here a late alarm does nothing
    if _installed:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, _previous if _previous is not None else signal.SIG_DFL)
        _installed = False


def release() -> None:
    """Let the next task on this lease start."""
    global _held
    if _held is not None:
        fd, _held = _held, None
        os.close(fd)  # closing the only descriptor of the open file drops its flock


def drop_in_child() -> None:
    """In a child forked while the lease is held: close its copy, or the lock would stay
    held as long as the child lives (a resident runner outlives the task)."""
    global _held
    if _held is not None:
        with contextlib.suppress(OSError):
            os.close(_held)
        _held = None

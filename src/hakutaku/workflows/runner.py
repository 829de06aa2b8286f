"""The resident runner: one long-lived child of a Parsl worker that runs the worker's Python
tasks one after another.

Forking a child per task from a Parsl worker (a 70-100 MB process) costs 2-5 ms of page tables
per task, more than a no-op task takes in plain Parsl. The runner is forked once: it leads a
session of its own (one signal to the group kills it and whatever its task started) and dies
with its worker (PR_SET_PDEATHSIG). Tasks reach it over a pipe, packed by `pack_call`: by
the standard pickler when the call is a module-level function with plain data, else in
Parsl's own format (`parsl.serialize.pack_apply_message`), so whatever Parsl can ship to a
worker a runner can run. Each task gets its folder as working directory (the runner's own
again after it), its environment (HAI_TASK_DIR, HAI_CHECKPOINT_DIR, HAI_TASK_CPUS,
OMP_NUM_THREADS, set before it whatever the task before it left) and its cores (its pinned
ones, else all the runner's). The reply says how the task ended and the CPU seconds it used:
rusage deltas of the runner and of the children it waited for, so the runner's earlier tasks
are not counted.

Tasks of one runner share an interpreter, as the tasks of one worker do in plain Parsl: modules
stay imported, module-level state stays, and a thread or process a task leaves running goes on
(its CPU time is then counted to the tasks that follow). A cancel, a timeout or a crash of the
interpreter kills the runner's whole session; the worker's next task starts a fresh runner.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import resource
import signal
import struct
import sys
import traceback
from dataclasses import dataclass
from typing import Any, NoReturn

import psutil
from parsl.serialize import pack_apply_message, unpack_apply_message

from hakutaku.workflows import leases, refs
from hakutaku.workflows.proctree import kill_tree, start_time

ERROR_FILE = "error.txt"
ERROR_CHARS = 4000
PR_SET_PDEATHSIG = 1
FRAME = struct.Struct("!Q")  # the length of the pickle that follows


@dataclass(frozen=True, slots=True)
class Reply:
    """How a task the runner ran ended."""

    ok: bool
    cpu_seconds: float
    error: str
    inline: bytes | None = None  # the result's pickle, when small (it is in its file too)


@dataclass(frozen=True, slots=True)
class Death:
    """How a runner ended: its wait status and the CPU seconds it used in all."""

    status: int
    cpu_seconds: float

    def describe(self) -> str:
        if os.WIFSIGNALED(self.status):
            number = os.WTERMSIG(self.status)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            return f"was killed by {name}"
        return f"exited with code {os.waitstatus_to_exitcode(self.status)}"


# A call packed by the standard pickler (C; a few us) instead of Parsl's dill (Python; ~20 us).
PICKLED_CALL = b"hai-pickle\n"


def pack_call(fn: Any, args: Any, kwargs: Any) -> bytes:
    """`fn(*args, **kwargs)` packed for a runner: by the standard pickler when it can (a
    module-level function and plain data: whatever it names is imported by the runner), else
    in Parsl's own format (what Parsl can ship, a runner can run: a lambda, a closure, anything
    of the campaign file's `__main__`, which a worker cannot import by name)."""
    if getattr(fn, "__module__", None) != "__main__":
        try:
            data = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            data = b"__main__"  # (not picklable so: Parsl's format)
        if b"__main__" not in data:
            return PICKLED_CALL + data
    return pack_apply_message(fn, args, kwargs)


def unpack_call(call: bytes) -> tuple[Any, Any, Any]:
    if call.startswith(PICKLED_CALL):
        fn, args, kwargs = pickle.loads(call[len(PICKLED_CALL) :])
        return fn, args, kwargs
    fn, args, kwargs = unpack_apply_message(call)
    return fn, args, kwargs


def job(
    call: bytes,
    folder: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    cpus: int,
    cores: list[int],
) -> bytes:
    """The frame body that asks a runner to run the packed `call` as one task."""
    folder, checkpoint, count = os.fspath(folder), os.fspath(checkpoint), str(cpus)
    return pickle.dumps(
        (
            call,
            folder,
            (
                ("OMP_NUM_THREADS", count),
                ("HAI_TASK_CPUS", count),
                ("HAI_TASK_DIR", folder),
                ("HAI_CHECKPOINT_DIR", checkpoint),
            ),
            cores,
        ),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


class Runner:
    """The worker's handle on its runner: the pipes to it, its pid and a pidfd to wait on."""

    def __init__(self, pid: int, jobs: int, replies: int) -> None:
        self.pid = pid
        self.jobs = jobs  # worker -> runner
        self.replies = replies  # runner -> worker
        self.pidfd = os.pidfd_open(pid)
        try:
            self.started = start_time(pid)
        except psutil.NoSuchProcess:
            self.started = 0.0
        self.reported_cpu = 0.0  # CPU seconds of the tasks it replied for

    @classmethod
    def start(cls) -> Runner:
        job_read, job_write = os.pipe()
        reply_read, reply_write = os.pipe()
        parent = os.getpid()
        # Flush first so that the child does not write the worker's buffered output again.
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            leases.drop_in_child()  # it outlives the task whose lease the worker holds now
            os.close(job_write)
            os.close(reply_read)
            _serve(job_read, reply_write, parent)
        os.close(job_read)
        os.close(reply_write)
        return cls(pid, job_write, reply_read)

    def send(self, body: bytes) -> None:
        write_frame(self.jobs, body)

    def receive(self) -> Reply | None:
        """The reply to the task sent last (call when `replies` is readable); None when the
        runner died before it had written all of it."""
        body = read_frame(self.replies)
        if body is None:
            return None
        reply = Reply(*pickle.loads(body))
        self.reported_cpu += reply.cpu_seconds
        return reply

    def alive(self) -> bool:
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return pid == 0

    def kill(self) -> Death:
        """Kill the runner's session and every descendant, reap it, close its pipes."""
        # The group is killed before the leader is reaped, so its pid cannot have been reused.
        kill_tree(self.pid)
        return self._reap()

    def _reap(self) -> Death:
        try:
            _, status, usage = os.wait4(self.pid, 0)
            total = usage.ru_utime + usage.ru_stime
        except ChildProcessError:
            status, total = 0, self.reported_cpu
        for fd in (self.jobs, self.replies, self.pidfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        return Death(status, max(0.0, total - self.reported_cpu))


# ---------------------------------------------------------------------- frames on a pipe


def write_frame(fd: int, body: bytes) -> None:
    view = memoryview(FRAME.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def read_frame(fd: int) -> bytes | None:
    """One frame's body; None at the end of the pipe (even in the middle of a frame)."""
    header = _read_exact(fd, FRAME.size)
    if header is None:
        return None
    return _read_exact(fd, FRAME.unpack(header)[0])


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------- the runner's side


def _serve(jobs: int, replies: int, parent: int) -> NoReturn:
    """The runner's life: tasks one after another until its worker goes."""
    try:
        os.setsid()
        # Not on Linux: the platform's resume still kills leftovers by their recorded pids.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the worker died before the death signal was armed
            os._exit(0)
        home = os.getcwd()
        affinity = _Affinity(os.sched_getaffinity(0))
        while True:
            body = read_frame(jobs)
            if body is None:  # the worker closed the pipe
                os._exit(0)
            reply = _run(pickle.loads(body), home, affinity)
            # (a tuple: a dataclass pickles through copyreg, ~10 us more a task)
            write_frame(replies, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(1)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _Affinity:
    """The runner's cores for each task: its pinned ones, else all the runner had; set only
    when the runner's are not these already (one system call where two were)."""

    def __init__(self, cores: set[int]) -> None:
        self.home = cores

    def use(self, cores: list[int]) -> None:
        wanted = set(cores) if cores else self.home
        if os.sched_getaffinity(0) != wanted:
            os.sched_setaffinity(0, wanted)


Job = tuple[bytes, str, tuple[tuple[str, str], ...], list[int]]  # what `job` packs
Answer = tuple[bool, float, str, bytes | None]  # a Reply's fields, as the runner sends them


def _run(job: Job, home: str, affinity: _Affinity) -> Answer:
    """Run one task in its folder with its environment and cores. Its variables are set
    before it (each only when it differs from what the runner has: the last task's value,
    or what that task changed it to); its working directory goes back to the runner's after
    it; its cores stay until a task with other cores comes."""
    before = _cpu_seconds()
    call, folder, env, cores = job
    ok, error, inline = True, "", None
    try:
        environ = os.environ
        for name, value in env:
            if environ.get(name) != value:
                environ[name] = value
        affinity.use(cores)
        os.chdir(folder)
        fn, args, kwargs = unpack_call(call)
        data = refs.store(fn(*args, **kwargs), folder)
        if data is not None and len(data) <= refs.INLINE_BYTES:
            inline = data
    except BaseException:
        ok, error = False, traceback.format_exc()[-ERROR_CHARS:]
        with contextlib.suppress(OSError), open(os.path.join(folder, ERROR_FILE), "w") as out:
            out.write(error)
    finally:
        with contextlib.suppress(OSError):
            os.chdir(home)
    return ok, _cpu_seconds() - before, error, inline

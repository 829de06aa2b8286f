"""The worker side of a task: what runs inside a Parsl worker for every platform task.

A Python task runs in the worker's resident runner (`hakutaku.workflows.runner`): one child
of the worker, forked once, leading its own session, that runs the worker's Python tasks one
after another. Python tasks of one worker therefore share an interpreter, as they do in plain
Parsl (module state, imported modules and threads a task leaves behind persist); their CPU
seconds are still their own (rusage deltas). An executable is forked and exec'd as the leader
of a session of its own, per task.

The worker waits for the task and looks for its cancel file (every POLL_SECONDS) and its
timeout; on either it kills the task's whole tree — for a Python task the runner's session,
after which its next task starts a fresh runner — so the Parsl worker (the slot) is free as
soon as the tree is gone. The worker acts on a task's cancel file only while that task is the
one it runs, so a late cancel of a finished task can never hit the task after it. Children
die with their worker (PR_SET_PDEATHSIG), so a killed campaign leaves no orphans computing.
Only a small outcome dict returns through Parsl; the result is a file in the task's folder.

A bundle (`execute_bundle`: several short tasks as one Parsl task) runs its members one after
another on its lease; each member is a task as above, and the outcomes return together.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import select
import sys
import time
import traceback
from typing import Any

from hakutaku.workflows import leases, usage_log
from hakutaku.workflows.proctree import clear_pid, kill_tree, write_pid
from hakutaku.workflows.runner import ERROR_CHARS, ERROR_FILE, Runner, job

CANCEL_FILE = "cancel"
# The campaign wants a prefetched task that has not started back (to run on another lease).
WITHDRAW_FILE = "withdraw"
WITHDRAWN = "withdrawn"  # its outcome then (it did not run; not an attempt)
USAGE_FILE = "usage.json"  # where earlier versions recorded an attempt's use (usage_log now)
POLL_SECONDS = 0.05  # how often a worker looks for the cancel file written from another host
PR_SET_PDEATHSIG = 1

_runner: Runner | None = None  # this worker's resident runner, started by its first Python task


def cancel_requested(folder: str | os.PathLike[str]) -> bool:
    return os.path.exists(os.path.join(folder, CANCEL_FILE))


def make_folder(path: str) -> bool:
    """Make the folder `path` (and its parents when missing); True when it is new (then no
    file of it, a cancel or withdraw file included, can exist yet)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        return False
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)
    return True


def execute_pickled(request: bytes) -> bytes:
    """What Parsl runs: `execute` with the spec and the outcome as pickles (a list of specs:
    `execute_bundle`, and a list of outcomes). They are plain data, and Parsl's own (dill)
    pickler, written in Python, takes ~20 us for such a dict where a bytes object takes ~6;
    the task's call inside is packed already."""
    spec = pickle.loads(request)
    outcome = execute_bundle(spec) if isinstance(spec, list) else execute(spec)
    return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one task attempt described by `spec` and say how it ended."""
    folder: str = spec["task_dir"]
    fresh = make_folder(folder)
    lease = spec.get("lease")
    # A task may wait here for its lease (prefetched behind the task that holds it): it
    # starts once it holds it, or never when it is cancelled first. In a folder made just
    # now no cancel or withdraw file was there: one written from here on is seen while the
    # task runs (a cancel) or comes too late (a withdraw), as when it comes after the look.
    if lease:
        ready = leases.acquire(lease, lambda: _stopped(folder), look=not fresh)
    else:
        ready = fresh or not cancel_requested(folder)
    if not ready:
        return _not_started(folder)
    try:
        return _attempt(spec, folder)
    finally:
        leases.release()  # the next task on the lease starts now (if it was not yet)


def execute_bundle(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the attempts of a bundle (short tasks of one pool, one lease) one after another
    on the lease, held for the whole bundle; one outcome per member, in order.

    While the bundle waits for its lease, a cancel or withdraw of any member ends the wait:
    no member starts (each says cancelled or withdrawn, and the campaign queues the
    withdrawn ones again). Once it holds the lease, each member's cancel and withdraw files
    are looked at just before it starts; a cancel or timeout of the running member kills
    its tree only (a Python member's runner: the members after it get a fresh one). Each
    member's result file and usage line are written as it ends, before the next starts."""
    folders: list[str] = [spec["task_dir"] for spec in specs]
    fresh = [make_folder(folder) for folder in folders]
    lease = specs[0].get("lease")
    if lease:
        ready = leases.acquire(lease, lambda: any(map(_stopped, folders)), look=False)
    else:
        ready = True
    if not ready:
        return [_not_started(folder) for folder in folders]
    outcomes: list[dict[str, Any]] = []
    try:
        for index, (spec, folder) in enumerate(zip(specs, folders, strict=True)):
            # (the first, in a folder made just now: nothing could be written there yet, or
            # the wait for the lease looked)
            if (index or not fresh[0]) and _stopped(folder):
                outcomes.append(_not_started(folder))
                continue
            try:
                outcomes.append(_attempt(spec, folder))
            except Exception as exc:  # e.g. its folder is not writable: this member fails
                outcomes.append({"state": "failed", "error": f"{type(exc).__name__}: {exc}"})
    finally:
        leases.release()
    return outcomes


def _stopped(folder: str) -> bool:
    """Cancelled, or withdrawn (to run on another lease)."""
    return cancel_requested(folder) or _withdrawn(folder)


def _not_started(folder: str) -> dict[str, Any]:
    if not cancel_requested(folder):
        return {"state": WITHDRAWN, "error": ""}
    return {"state": "cancelled", "error": "cancelled before it started"}


def _attempt(spec: dict[str, Any], folder: str) -> dict[str, Any]:
    """Run the attempt (its lease held); its result file is written before this returns."""
    started = time.monotonic()
    checkpoint = _checkpoint_folder(folder, spec["slot"])
    try:
        if spec["kind"] == "python":
            outcome = _run_python(spec, folder, checkpoint)
        else:
            outcome = _run_executable(spec, folder, checkpoint)
    finally:
        # The record named the process while this task ran; it names nothing of it now.
        clear_pid(folder)
    outcome["wall_seconds"] = time.monotonic() - started
    run_dir = os.path.dirname(os.path.dirname(folder))
    usage_log.append(
        run_dir, os.path.basename(folder), outcome["cpu_seconds"], outcome["wall_seconds"]
    )
    return outcome


def _checkpoint_folder(folder: str, slot: str) -> str:
    """`checkpoints/<slot>` of the campaign's folder (tasks/<key>/../../checkpoints)."""
    path = os.path.join(os.path.dirname(os.path.dirname(folder)), "checkpoints", slot)
    make_folder(path)
    return path


def _withdrawn(folder: str) -> bool:
    return os.path.exists(os.path.join(folder, WITHDRAW_FILE))


def _stop_reason(folder: str, deadline: float | None, timeout: float | None) -> tuple[str, str]:
    if cancel_requested(folder):
        return "cancelled", "cancelled while running; its process tree was killed"
    if deadline is not None and time.monotonic() > deadline:
        return "timeout", f"ran past its timeout of {timeout} s and was killed"
    return "", ""


# ---------------------------------------------------------------------- Python tasks


def _resident_runner() -> Runner:
    global _runner
    if _runner is not None and not _runner.alive():
        _runner.kill()  # it died between tasks: clear what is left of its session
        _runner = None
    if _runner is None:
        _runner = Runner.start()
    return _runner


def _run_python(spec: dict[str, Any], folder: str, checkpoint: str) -> dict[str, Any]:
    global _runner
    body = job(
        spec["call"], folder, checkpoint, int(spec.get("cpus", 1)), list(spec.get("cores") or [])
    )
    runner = _resident_runner()
    write_pid(folder, runner.pid, runner.started, shared=True)
    try:
        runner.send(body)
    except OSError:  # it died a moment ago: a fresh one runs the task
        runner.kill()
        _runner = runner = Runner.start()
        write_pid(folder, runner.pid, runner.started, shared=True)
        runner.send(body)
    timeout = spec.get("timeout")
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        ready, _, _ = select.select([runner.replies, runner.pidfd], [], [], POLL_SECONDS)
        if runner.replies in ready or runner.pidfd in ready:
            readable = runner.replies in ready or _readable(runner.replies)
            reply = runner.receive() if readable else None
            if reply is None:  # the interpreter died under the task
                _runner = None
                death = runner.kill()
                return {
                    "state": "failed",
                    "cpu_seconds": death.cpu_seconds,
                    "exit_code": os.waitstatus_to_exitcode(death.status),
                    "error": _crash_text(folder, death.describe()),
                }
            outcome = {
                "state": "done" if reply.ok else "failed",
                "cpu_seconds": reply.cpu_seconds,
                "exit_code": 0 if reply.ok else 1,
                "error": reply.error,
                "inline": reply.inline,
            }
            if cancel_requested(folder):
                # Cancelled as it ended: what it left running in the session goes too (the
                # runner has not started another task, so nothing else is hit).
                _runner = None
                runner.kill()
                outcome.update(state="cancelled", error="cancelled as it ended")
            return outcome
        state, error = _stop_reason(folder, deadline, timeout)
        if state:
            _runner = None
            death = runner.kill()
            return {"state": state, "cpu_seconds": death.cpu_seconds, "error": error}


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _crash_text(folder: str, how: str) -> str:
    text = (
        f"the Python interpreter running the task {how} (a crash in native code, os._exit or "
        "the machine's memory limit); the worker's next task runs in a fresh interpreter"
    )
    with contextlib.suppress(OSError), open(os.path.join(folder, ERROR_FILE), "w") as handle:
        handle.write(text)
    return text


# ---------------------------------------------------------------------- executables


def _run_executable(spec: dict[str, Any], folder: str, checkpoint: str) -> dict[str, Any]:
    pid = _spawn(spec, folder, checkpoint)
    write_pid(folder, pid)
    timeout = spec.get("timeout")
    state, error, status, usage = _wait(pid, folder, timeout)
    exit_code = os.waitstatus_to_exitcode(status)
    if state == "ended":
        state = "done" if exit_code == 0 else "failed"
        error = "" if exit_code == 0 else _error_text(folder, exit_code)
    return {
        "state": state,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "exit_code": exit_code,
        "error": error,
    }


def _error_text(folder: str, exit_code: int | None) -> str:
    try:
        with open(os.path.join(folder, ERROR_FILE)) as handle:
            return handle.read()[-ERROR_CHARS:]
    except OSError:
        return f"exited with code {exit_code}"


def _spawn(spec: dict[str, Any], folder: str, checkpoint: str) -> int:
    """Fork the child that execs the executable; it leads a new session and dies with this
    worker."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    try:
        _child_setup(spec, folder, checkpoint)
        _exec(spec["argv"], folder)
    except BaseException:
        with contextlib.suppress(OSError), open(os.path.join(folder, ERROR_FILE), "w") as out:
            out.write(traceback.format_exc())
    finally:
        os._exit(1)


def _child_setup(spec: dict[str, Any], folder: str, checkpoint: str) -> None:
    os.setsid()
    # Not on Linux: the platform's resume still kills leftovers by their recorded pids.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9)
    cores = spec.get("cores")
    if cores:
        os.sched_setaffinity(0, cores)
    cpus = str(spec.get("cpus", 1))
    os.environ.update(
        {
            "OMP_NUM_THREADS": cpus,
            "HAI_TASK_CPUS": cpus,
            "HAI_TASK_CARDS": str(spec.get("cards", 0)),
            "HAI_TASK_DIR": folder,
            "HAI_CHECKPOINT_DIR": checkpoint,
        }
    )
    if spec.get("mpi"):
        # A task's ranks are on its worker's node. Inside a Slurm job MPICH's mpiexec would
        # start them through srun, as children of slurmstepd, out of the task's process
        # tree (a cancel would leave them running); forked here they are in it.
        os.environ.setdefault("HYDRA_LAUNCHER", "fork")
    os.chdir(folder)


def _exec(argv: list[str], folder: str) -> None:
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        target = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    os.execvp(argv[0], argv)


def _wait(pid: int, folder: str, timeout: float | None) -> tuple[str, str, int, Any]:
    """Wait for the executable; kill its tree on cancel or timeout.
    (state, error, wait status, rusage)."""
    deadline = time.monotonic() + timeout if timeout else None
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            ready, _, _ = select.select([pidfd], [], [], POLL_SECONDS)
            if ready:
                if cancel_requested(folder):
                    # Killed by the platform directly; descendants may linger in other groups
                    # (killed before the leader is reaped, so its pid is still its own).
                    kill_tree(pid)
                    _, status, usage = os.wait4(pid, 0)
                    return "cancelled", _stop_reason(folder, None, None)[1], status, usage
                _, status, usage = os.wait4(pid, 0)
                return "ended", "", status, usage
            state, error = _stop_reason(folder, deadline, timeout)
            if state:
                kill_tree(pid)
                _, status, usage = os.wait4(pid, 0)
                return state, error, status, usage
    finally:
        os.close(pidfd)

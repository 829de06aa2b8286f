"""The local backend: jobs as detached child processes on this machine.

Each job runs under `local_runner.py`, in its own session, so stopping or restarting the
server leaves it running; the runner keeps `status.json` in the job folder, from which any
later server re-attaches. The backend's id for a job is the platform's job id.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from hakutaku.compute.backends.base import JobRequest, Observed, SubmitRefused
from hakutaku.compute.states import JobState

RUNNER = Path(__file__).with_name("local_runner.py")
CANCEL_MARKER = "cancel"  # a file in the job folder: the job is to be cancelled (the runner's name)
TIME_LIMIT_FILE = "time_limit"  # the job's time limit in seconds, once changed (the runner's name)
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND


class LocalBackend:
    name = "local"
    queues_itself = False

    def __init__(self, jobs_path: Path, on_exit: Callable[[], None] | None = None) -> None:
        self.jobs_path = jobs_path
        self.on_exit = on_exit  # called (from a thread) when a job's runner ends
        self._children: dict[str, int] = {}  # runners this process started, by job

    def job_dir(self, external_id: str) -> Path:
        return self.jobs_path / external_id

    def submit(self, request: JobRequest) -> str:
        job_dir = Path(request.job_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        if not Path(request.workdir).is_dir():
            raise SubmitRefused(
                f"The working directory {request.workdir} does not exist; create it or choose "
                "another with --workdir."
            )
        if request.script is not None:
            (job_dir / "script.sh").write_text(request.script)
        spec = {
            "command": request.command,
            "workdir": request.workdir,
            "env": request.env,
            "time_limit": request.time_limit,
            "mem_mb": request.mem_mb,
            "log_path": request.log_path,
        }
        (job_dir / "request.json").write_text(json.dumps(spec))
        external_id = str(request.id)
        # posix_spawn (vfork underneath) costs far less than fork() of a large server; -I -S:
        # the runner needs only the standard library, so it starts in a few milliseconds.
        # Its own session keeps it out of the server's process group: it survives the server.
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-I", "-S", str(RUNNER), str(job_dir)],
            request.env,  # the job's whole environment; not the server's
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, str(job_dir / "runner.err"), _APPEND, 0o644),
            ],
            setsid=True,
        )
        self._children[external_id] = pid
        threading.Thread(target=self._watch, args=(external_id, pid), daemon=True).start()
        return external_id

    def _watch(self, external_id: str, pid: int) -> None:
        """Reap the runner when it ends and tell the scheduler, so the next job starts now."""
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        self._children.pop(external_id, None)
        if self.on_exit is not None:
            self.on_exit()

    def poll(self, external_ids: list[str]) -> dict[str, Observed]:
        seen: dict[str, Observed] = {}
        for external_id in external_ids:
            observed = self._observe(external_id)
            if observed is not None:
                seen[external_id] = observed
        return seen

    def _observe(self, external_id: str) -> Observed | None:
        job_dir = self.job_dir(external_id)
        status = _read_status(job_dir)
        if status is None:
            if external_id in self._children:  # started a moment ago; not written yet
                return Observed(JobState.RUNNING)
            if not (job_dir / "request.json").exists():  # claimed, but never handed over
                return Observed(JobState.PENDING, reason="not started yet")
            return None
        state = JobState(status["state"])
        observed = Observed(
            state=state,
            exit_code=status.get("exit_code"),
            started_at=_time(status.get("started_at")),
            ended_at=_time(status.get("ended_at")),
            reason=status.get("reason", ""),
            node=os.uname().nodename,
        )
        if state is JobState.RUNNING and not _runner_alive(status.get("runner_pid")):
            # It may have written its last word between our read and the check: read again.
            final = _read_status(job_dir)
            if final is not None and final.get("state") != JobState.RUNNING:
                return self._observe(external_id)
            # The runner went away without writing how the job ended (machine rebooted,
            # runner killed by hand): the job's outcome is unknown, so it counts as failed.
            return Observed(
                JobState.FAILED,
                started_at=observed.started_at,
                reason="the job's runner stopped without recording an end (machine restart?)",
                node=observed.node,
            )
        return observed

    def cancel(self, external_id: str) -> None:
        # The marker first: a cancel can arrive after the scheduler claimed the job but before
        # its runner exists (no pid to signal yet); the runner honours the marker when it
        # starts and while it runs, so the cancel is never lost.
        job_dir = self.job_dir(external_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / CANCEL_MARKER).touch()
        # Signal only a runner that has said it runs (status.json): it handles SIGTERM by then.
        # One that has not written it yet may not have its handler either — SIGTERM would kill
        # it before it records anything — and it sees the marker within 0.1 s anyway.
        status = _read_status(job_dir) or {}
        pid = status.get("runner_pid")
        if pid is not None and _runner_alive(pid):
            os.kill(pid, signal.SIGTERM)

    def set_time_limit(self, external_id: str, time_limit: int) -> None:
        """Write the new limit where the runner looks when the old one is reached (written
        atomically: the runner never reads half a number). The file outlives the server, so
        a restarted server changes nothing; the jobs row holds the same value."""
        job_dir = self.job_dir(external_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        tmp = job_dir / f"{TIME_LIMIT_FILE}.tmp"
        tmp.write_text(str(int(time_limit)))
        os.replace(tmp, job_dir / TIME_LIMIT_FILE)


def _read_status(job_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((job_dir / "status.json").read_text())
    except (OSError, ValueError):
        return None


def _runner_alive(pid: int | None) -> bool:
    """True when `pid` is a live local runner (not a recycled pid of something else)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rpartition(")")[2].split()[0] == "Z"
    return not zombie and RUNNER.name.encode() in cmdline


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None

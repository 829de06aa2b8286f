"""The local backend: jobs as detached child processes on this machine.

Each job runs under `local_runner.py`, in its own session, so stopping or restarting the
server leaves it running; the runner keeps `status.json` in the job folder, from which any
later server re-attaches. The backend's id for a job is the platform's job id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from hakutaku.compute.backends.base import JobRequest, Observed, SubmitRefused
from hakutaku.compute.states import JobState

RUNNER = Path(__file__).with_name("local_runner.py")


class LocalBackend:
    name = "local"
    queues_itself = False

    def __init__(self, jobs_path: Path) -> None:
        self.jobs_path = jobs_path
        self._children: dict[str, subprocess.Popen[bytes]] = {}  # reaped in poll()

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
            "log_path": request.log_path,
        }
        (job_dir / "request.json").write_text(json.dumps(spec))
        external_id = str(request.id)
        self._children[external_id] = subprocess.Popen(
            [sys.executable, str(RUNNER), str(job_dir)],
            env=request.env,  # the job's whole environment; not the server's
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(job_dir / "runner.err", "ab"),  # noqa: SIM115 - the child owns it
            start_new_session=True,  # survives the server: not in its process group
            close_fds=True,
        )
        return external_id

    def poll(self, external_ids: list[str]) -> dict[str, Observed]:
        for child in list(self._children.values()):
            child.poll()  # reap finished runners
        self._children = {k: c for k, c in self._children.items() if c.returncode is None}
        seen: dict[str, Observed] = {}
        for external_id in external_ids:
            observed = self._observe(external_id)
            if observed is not None:
                seen[external_id] = observed
        return seen

    def _observe(self, external_id: str) -> Observed | None:
        status = _read_status(self.job_dir(external_id))
        if status is None:
            if external_id in self._children:  # started a moment ago; not written yet
                return Observed(JobState.RUNNING)
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
        status = _read_status(self.job_dir(external_id)) or {}
        pid = status.get("runner_pid")
        child = self._children.get(external_id)
        if pid is None and child is not None:
            pid = child.pid
        if pid is not None and _runner_alive(pid):
            os.kill(pid, signal.SIGTERM)


def _read_status(job_dir: Path) -> dict | None:  # type: ignore[type-arg]
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

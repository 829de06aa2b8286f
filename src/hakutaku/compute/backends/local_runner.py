"""Runs one local job and records how it ended; started by the local backend, detached.

This file is run by path with the standard library only (no `hakutaku` import), so that it
starts fast and keeps running when the server stops or restarts. It reads `request.json` in
the job folder and keeps `status.json` there up to date (written atomically): the server
re-attaches to a job from that file alone.

    python local_runner.py JOB_DIR
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for a job being stopped
MEMORY_CHECK_INTERVAL = 1.0  # seconds between two sums of the job's resident memory
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
CANCEL_MARKER = "cancel"  # written by the server's cancel (LocalBackend.CANCEL_MARKER)
# the job's time limit in seconds, when the server changed it after submission
# (LocalBackend.set_time_limit); request.json keeps the one given at submission
TIME_LIMIT_FILE = "time_limit"


def now() -> str:
    return datetime.now(UTC).isoformat()


def write_status(job_dir: Path, status: dict[str, Any]) -> None:
    tmp = job_dir / "status.json.tmp"
    tmp.write_text(json.dumps(status))
    os.replace(tmp, job_dir / "status.json")


def time_limit(job_dir: Path, given: float) -> float:
    """The job's time limit now: the server's latest (TIME_LIMIT_FILE), else the one given."""
    try:
        return float((job_dir / TIME_LIMIT_FILE).read_text())
    except (OSError, ValueError):
        return given


def stop_group(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM the job's whole process group, then SIGKILL what is left after the grace."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def session_rss(session: int) -> int:
    """Resident bytes of every process in a session (the job and all it started, unless they
    left the session on purpose), from /proc: what Slurm's OverMemoryKill sums without
    cgroups."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # ended meanwhile, or not ours to read
            continue
        # fields after the command name, which may itself hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[3]) == session:  # field 6: session id
            total += int(fields[21]) * PAGE_SIZE  # field 24: resident pages
    return total


def main(job_dir: Path) -> int:
    # A cancel may come at any moment from here on: note it, stop the job in the loop below.
    cancelled = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal cancelled
        cancelled = True

    signal.signal(signal.SIGTERM, on_term)
    request = json.loads((job_dir / "request.json").read_text())
    status: dict[str, Any] = {"state": "running", "runner_pid": os.getpid(), "started_at": now()}
    marker = job_dir / CANCEL_MARKER
    if cancelled or marker.exists():  # cancelled before this runner could be signalled
        status.update(state="cancelled", reason="cancelled before it started", exit_code=None)
        status["ended_at"] = now()
        write_status(job_dir, status)
        return 0
    argv = request["command"] or ["bash", str(job_dir / "script.sh")]
    env = request["env"]  # complete: the server left its own secrets out of it
    with open(request["log_path"], "ab", buffering=0) as log:
        try:
            child = subprocess.Popen(
                argv,
                cwd=request["workdir"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopping it stops all it started
            )
        except OSError as exc:
            message = f"hai: cannot start {argv[0]!r}: {exc.strerror}\n"
            log.write(message.encode())
            status.update(state="failed", exit_code=127, reason=message.strip())
            status["ended_at"] = now()
            write_status(job_dir, status)
            return 0
        status["child_pid"] = child.pid
        write_status(job_dir, status)
        started = time.monotonic()
        given = float(request["time_limit"])
        deadline = started + time_limit(job_dir, given)
        mem_limit = int(request.get("mem_mb") or 0) * MIB
        next_memory_check = time.monotonic() + MEMORY_CHECK_INTERVAL
        while True:
            try:
                code = child.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancelled or marker.exists():
                stop_group(child)
                status.update(state="cancelled", reason="cancelled by request")
                code = child.returncode
                break
            if time.monotonic() >= deadline:
                # extended meanwhile? read only here, when it would end: nothing per tick
                deadline = started + time_limit(job_dir, given)
            if time.monotonic() >= deadline:
                log.write(b"hai: time limit reached; stopping the job\n")
                stop_group(child)
                status.update(state="timeout", reason="time limit reached")
                code = child.returncode
                break
            if mem_limit and time.monotonic() >= next_memory_check:
                next_memory_check = time.monotonic() + MEMORY_CHECK_INTERVAL
                used = session_rss(child.pid)
                if used > mem_limit:
                    reason = (
                        f"out of memory: the job used {used // MIB} MiB, more than its "
                        f"{mem_limit // MIB} MiB (--mem); ask for more"
                    )
                    log.write(f"hai: {reason}; stopping the job\n".encode())
                    stop_group(child)
                    status.update(state="failed", reason=reason)
                    code = child.returncode
                    break
    if status["state"] == "running":
        status["state"] = "completed" if code == 0 else "failed"
        if code != 0:
            status["reason"] = (
                f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            )
    status["exit_code"] = code
    status["ended_at"] = now()
    write_status(job_dir, status)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))

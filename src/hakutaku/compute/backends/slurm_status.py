"""Slurm's job records, read from `squeue --json` (or text) and `sacct --parsable2`.

Two sources because Slurm has two: slurmctld knows live jobs (and finished ones for MinJobAge
seconds), slurmdbd knows every job that ever ran. Shapes handled:

- `squeue --json` of Slurm 22.05 (OpenAPI v0.0.38): `job_state` a string, times as epoch
  integers, `exit_code` a raw wait status (768 = exit 3, 15 = killed by SIGTERM); and of 23.02+,
  where they became lists, `{"set", "number"}` objects and `{"return_code", "signal"}` objects.
  22.05's squeue ignores `--jobs` with `--json` and lists every job, so the caller filters.
- `sacct --parsable2` text: stable across versions, unlike `sacct --json`, whose 22.05 version
  reports `exit_code` SUCCESS/0 for a job that exited 3.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hakutaku.compute.backends.base import Observed
from hakutaku.compute.states import JobState

# Slurm's state → the platform's state and, for bad endings, the reason users read.
_STATES: dict[str, tuple[JobState, str]] = {
    "PENDING": (JobState.PENDING, ""),
    "REQUEUED": (JobState.PENDING, "requeued by Slurm"),
    "REQUEUE_HOLD": (JobState.PENDING, "requeued and held by Slurm"),
    "REQUEUE_FED": (JobState.PENDING, "requeued by Slurm"),
    "RESV_DEL_HOLD": (JobState.PENDING, "held: its reservation was deleted"),
    "CONFIGURING": (JobState.RUNNING, ""),
    "RUNNING": (JobState.RUNNING, ""),
    "COMPLETING": (JobState.RUNNING, ""),
    "RESIZING": (JobState.RUNNING, ""),
    "SIGNALING": (JobState.RUNNING, ""),
    "STAGE_OUT": (JobState.RUNNING, ""),
    "STOPPED": (JobState.RUNNING, "stopped by Slurm (SIGSTOP)"),
    "SUSPENDED": (JobState.RUNNING, "suspended by Slurm"),
    "COMPLETED": (JobState.COMPLETED, ""),
    "FAILED": (JobState.FAILED, "the job's script exited with an error"),
    "NODE_FAIL": (JobState.FAILED, "its node failed"),
    "BOOT_FAIL": (JobState.FAILED, "its node failed to boot"),
    "OUT_OF_MEMORY": (JobState.FAILED, "killed for using more memory than it asked for"),
    "DEADLINE": (JobState.FAILED, "its deadline passed"),
    "SPECIAL_EXIT": (JobState.FAILED, "ended with a special exit"),
    "CANCELLED": (JobState.CANCELLED, "cancelled"),
    "REVOKED": (JobState.CANCELLED, "revoked (it ran on another cluster)"),
    # Preemption is Slurm taking the resources back, not the job's fault: counted as cancelled,
    # with the reason saying so, so that the user resubmits rather than debugs.
    "PREEMPTED": (JobState.CANCELLED, "preempted by a higher-priority job"),
    "TIMEOUT": (JobState.TIMEOUT, "reached its time limit"),
}


def platform_state(slurm_state: str) -> tuple[JobState, str]:
    """`CANCELLED by 1001` → (cancelled, "cancelled").

    A state this module does not know (a newer Slurm's) counts as running, with a reason that
    names it: the job is in Slurm's hands and will reach a known final state; failing the whole
    poll instead would stop every job's updates.
    """
    word = slurm_state.split()[0].rstrip("+").upper() if slurm_state.strip() else ""
    known = _STATES.get(word)
    if known is None:
        return JobState.RUNNING, f"in Slurm state {slurm_state.strip() or '(none)'}"
    return known


def parse_squeue_json(text: str, wanted: set[str]) -> dict[str, Observed]:
    """The jobs of `squeue --json` whose ids are in `wanted`."""
    data = json.loads(text)
    found: dict[str, Observed] = {}
    for job in data.get("jobs", []):
        job_id = str(_number(job.get("job_id")))
        if job_id in wanted:
            found[job_id] = _observed_from_squeue(job)
    return found


def _observed_from_squeue(job: dict[str, Any]) -> Observed:
    raw_state = job.get("job_state", "")
    slurm_state = raw_state[0] if isinstance(raw_state, list) and raw_state else str(raw_state)
    state, ending = platform_state(slurm_state)
    node = job.get("nodes") or None
    started = _epoch(job.get("start_time")) if node and state is not JobState.PENDING else None
    ended = _epoch(job.get("end_time")) if state.final else None
    exit_code = _known_exit(state, _squeue_exit_code(job.get("exit_code"))) if started else None
    pending_reason = str(job.get("state_reason") or "")
    return Observed(
        state=state,
        exit_code=exit_code,
        started_at=started,
        ended_at=ended,
        reason=_reason(state, ending, pending_reason, exit_code),
        node=node,
    )


def parse_squeue_text(text: str) -> dict[str, Observed]:
    """Lines of `squeue --noheader --format=%i|%T|%r|%S|%e|%N` (times in UTC, ISO format)."""
    found: dict[str, Observed] = {}
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 6:
            continue
        job_id, slurm_state, pending_reason, start, end, node = fields
        state, ending = platform_state(slurm_state)
        node_name = node.strip() or None
        running_or_ran = node_name is not None and state is not JobState.PENDING
        found[job_id.strip()] = Observed(
            state=state,
            started_at=_iso(start) if running_or_ran else None,
            ended_at=_iso(end) if state.final else None,
            reason=_reason(state, ending, pending_reason, None),
            node=node_name,
        )
    return found


SQUEUE_TEXT_FORMAT = "%i|%T|%r|%S|%e|%N"


# ---------------------------------------------------------------------------------- sacct

SACCT_FIELDS = "JobIDRaw,State,ExitCode,Start,End,NodeList,Reason"


def parse_sacct_text(text: str) -> dict[str, Observed]:
    """Lines of `sacct --noheader --parsable2 --allocations --format=SACCT_FIELDS` (UTC)."""
    found: dict[str, Observed] = {}
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 7:
            continue
        job_id, slurm_state, exit_text, start, end, nodes, pending_reason = fields
        state, ending = platform_state(slurm_state)
        node = nodes.strip() if nodes.strip() not in ("", "None assigned") else None
        # A job cancelled while pending has Start = End in sacct: it started only with a node.
        started = _iso(start) if node is not None else None
        exit_code = _known_exit(state, _sacct_exit_code(exit_text)) if started else None
        found[job_id.strip()] = Observed(
            state=state,
            exit_code=exit_code,
            started_at=started if state is not JobState.PENDING else None,
            ended_at=_iso(end) if state.final else None,
            reason=_reason(state, ending, pending_reason, exit_code),
            node=node,
        )
    return found


# ---------------------------------------------------------------------------------- helpers


def _reason(state: JobState, ending: str, pending_reason: str, exit_code: int | None) -> str:
    if state is JobState.PENDING:
        # Slurm's own words (Resources, Priority, QOSMaxGRESPerUser, ...): operators know them.
        return "" if pending_reason in ("None", "") else pending_reason
    if state is JobState.FAILED and exit_code is not None and ending.startswith("the job's"):
        return f"the job exited with code {exit_code}"
    return ending


def _known_exit(state: JobState, exit_code: int | None) -> int | None:
    """The exit code when there is one: Slurm records 0 for a job it stopped at its time limit
    or cancelled before the script ended, which would read as a success."""
    if not state.final:
        return None
    if exit_code == 0 and state in (JobState.TIMEOUT, JobState.CANCELLED):
        return None
    return exit_code


def _number(value: Any) -> int | None:
    """An integer from 22.05's plain numbers or 23.02+'s {"set": .., "number": ..}."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    return int(value) if isinstance(value, int | float) else None


def _epoch(value: Any) -> datetime | None:
    seconds = _number(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def _iso(text: str) -> datetime | None:
    text = text.strip()
    if not text or text in ("Unknown", "None", "N/A"):
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return None


def _squeue_exit_code(value: Any) -> int | None:
    """22.05: a wait status (exit << 8 | signal); 23.02+: {"return_code", "signal"} objects."""
    if isinstance(value, dict):
        signal_record = value.get("signal") or {}
        signal = _number(signal_record.get("id", signal_record.get("signal_id")))
        if signal:
            return 128 + signal
        return _number(value.get("return_code"))
    status = _number(value)
    if status is None:
        return None
    signal = status & 0x7F
    return 128 + signal if signal else status >> 8


def _sacct_exit_code(text: str) -> int | None:
    """`3:0` → 3; `0:15` (killed by SIGTERM) → 143, as a shell reports a signal."""
    code, _, signal = text.strip().partition(":")
    try:
        return 128 + int(signal) if signal and int(signal) else int(code)
    except ValueError:
        return None

"""Why an app session ended, in the words its card shows (from how its job ended)."""

from __future__ import annotations

from hakutaku.compute.states import JobState
from hakutaku.db.models import Job

COMPLETED = "completed"
TIME_LIMIT = "time limit"
OUT_OF_MEMORY = "out of memory"
CANCELLED = "cancelled"
IDLE = "stopped after being idle"
FAILED = "failed"


def ended_why(job: Job, culled: bool = False) -> str | None:
    """None while the job lives; else one of the constants above.

    Both backends report an OOM kill as `failed` with a reason naming memory (the local runner's
    "out of memory: …", Slurm's OUT_OF_MEMORY → "killed for using more memory…"): it is
    told apart here, so an OOM never reads "completed" or a bare "failed".
    """
    state = JobState(job.state)
    if not state.final:
        return None
    if state is JobState.COMPLETED:
        return COMPLETED
    if state is JobState.TIMEOUT:
        return TIME_LIMIT
    if state is JobState.CANCELLED:
        return IDLE if culled else CANCELLED
    if "memory" in (job.reason or "").lower():
        return OUT_OF_MEMORY
    return FAILED

"""What the scheduler asks of a backend, and what a backend reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hakutaku.compute.states import JobState


class SubmitRefused(Exception):
    """The backend refused the job (for Slurm: sbatch's own message, e.g. a QOS limit)."""


class ChangeRefused(Exception):
    """The backend refused to change a job it holds (e.g. its time limit); the message says
    why and what to do. `ended`: the job has ended there (the platform may not know yet)."""

    def __init__(self, message: str, *, ended: bool = False) -> None:
        super().__init__(message)
        self.ended = ended


@dataclass(frozen=True)
class JobRequest:
    """Everything a backend needs to run one job; built from the `jobs` row."""

    id: int
    user: str
    account: str | None
    name: str
    command: list[str]
    script: str | None  # a script body run by bash, instead of `command`
    workdir: str
    env: dict[str, str]
    partition: str
    qos: str
    cpus: int
    mem_mb: int
    accelerator: str  # gpu | dcu | npu | cpu
    accelerator_model: str | None
    accelerators: int
    time_limit: int  # seconds
    job_dir: str  # a folder for this job's files (script, status), on storage both sides see
    log_path: str  # stdout and stderr together
    devices: list[str] = field(default_factory=list)  # local backend: the device ids given


@dataclass(frozen=True)
class Observed:
    """A backend's view of one job at one moment."""

    state: JobState
    exit_code: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    reason: str = ""  # why it pends, or why it ended badly
    node: str | None = None


class Backend(Protocol):
    name: str
    #: True when the backend keeps its own queue (Slurm): jobs are handed over at submission.
    #: False (local): the scheduler keeps pending jobs and hands one over when it fits.
    queues_itself: bool

    def submit(self, request: JobRequest) -> str:
        """Start or enqueue the job; return the backend's id for it. May raise SubmitRefused."""
        ...

    def poll(self, external_ids: list[str]) -> dict[str, Observed]:
        """The current state of these jobs; ids the backend has never heard of are left out."""
        ...

    def cancel(self, external_id: str) -> None:
        """Ask the backend to stop the job; its final state comes through `poll`."""
        ...

    def set_time_limit(self, external_id: str, time_limit: int) -> None:
        """Make the job's total time limit `time_limit` seconds (counted from its start, as at
        submission), while it pends or runs. The platform has checked it against its policy;
        the backend only applies it. May raise ChangeRefused."""
        ...

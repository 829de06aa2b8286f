"""A Parsl ExecutionProvider whose blocks are the user's platform jobs.

Parsl's HighThroughputExecutor asks its provider for blocks (pilot jobs that start a worker
pool). This provider submits each block's launch command as a job through the platform's SDK
(`POST /api/jobs`) with the user's key, so a block is an ordinary job of that user: it has their
partition, QOS and account, shows in `hai jobs list`, is held to their limits (a refusal names
the limit) and is accounted in the ledger. The platform's backend runs it: local processes on
a laptop, `sbatch` on a Slurm cluster; the campaign file is the same for both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from parsl.jobs.states import JobState, JobStatus
from parsl.providers.base import ExecutionProvider

from hakutaku.sdk.client import Client
from hakutaku.sdk.errors import APIError
from hakutaku.workflows.errors import WorkflowError

log = logging.getLogger(__name__)

# The platform's job states (hakutaku.compute.states) as Parsl's.
PARSL_STATE = {
    "pending": JobState.PENDING,
    "running": JobState.RUNNING,
    "completed": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
    "timeout": JobState.TIMEOUT,
}
FINAL = frozenset({"completed", "failed", "cancelled", "timeout"})


class BlockRefused(WorkflowError):
    """The platform refused a block's job (over a QOS or partition limit, no such account...).

    Parsl records it as the block's failure and fails the campaign's tasks with this message,
    so the campaign ends with an error naming the limit rather than waiting for workers."""


@dataclass(frozen=True, slots=True)
class BlockResources:
    """What each block asks the platform for; None takes the partition's defaults."""

    cpus: int
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    walltime: str | None = None
    gpus: str | None = None
    mem: str | None = None


class PlatformProvider(ExecutionProvider):
    """Blocks as platform jobs of the user whose API key `client` carries."""

    def __init__(
        self,
        client: Client,
        resources: BlockResources,
        *,
        worker_init: str = "",
        name: str = "workflow",
        blocks: int = 1,
        poll_seconds: int = 2,
    ) -> None:
        self.client = client
        self.block = resources
        self.worker_init = worker_init
        self.name = name
        self.min_blocks = self.init_blocks = self.max_blocks = blocks
        self.nodes_per_block = 1
        self.script_dir: str | None = None
        self.parallelism = 1.0
        self.resources: dict[object, dict[str, str]] = {}
        self.cores_per_node: int | None = resources.cpus
        self.mem_per_node: float | None = None
        self.refusals: list[str] = []
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return "hakutaku-platform"

    @property
    def status_polling_interval(self) -> int:
        return self._poll_seconds

    def submit(self, command: str, tasks_per_node: int, job_name: str = "parsl.auto") -> str:
        """Submit one block: a bash script that prepares the environment and starts the
        worker pool (HTEX asks for one pool per node, tasks_per_node=1)."""
        block = self.block
        script = f"{self.worker_init}\nexport PARSL_CORES={block.cpus}\n{command}\n"
        try:
            job = self.client.jobs.submit(
                script=script,
                name=f"{self.name}:{job_name}"[:128],
                partition=block.partition,
                qos=block.qos,
                account=block.account,
                cpus=block.cpus,
                gpus=block.gpus,
                mem=block.mem,
                time=block.walltime,
            )
        except APIError as exc:
            message = (
                f"the platform refused the campaign's block job ({exc.code or exc.status}): "
                f"{exc.message or exc} Ask for less in SlurmOptions (cpus are the pools' total), "
                "or choose another partition or QOS (`hai compute` lists their limits)."
            )
            with self._lock:
                self.refusals.append(message)
            log.error(message)
            raise BlockRefused(message) from exc
        job_id = str(job["id"])
        with self._lock:
            self.resources[job_id] = {"state": str(job["state"]), "name": job_name}
        return job_id

    def status(self, job_ids: Sequence[object]) -> list[JobStatus]:
        statuses = []
        for job_id in job_ids:
            try:
                job = self.client.jobs.get(int(str(job_id)))
            except APIError as exc:
                if exc.status == 404:
                    statuses.append(JobStatus(JobState.MISSING, f"job {job_id} is gone"))
                    continue
                # The platform did not answer this time: say so, do not call the block lost.
                statuses.append(JobStatus(JobState.UNKNOWN, str(exc)))
                continue
            state = str(job["state"])
            with self._lock:
                if job_id in self.resources:
                    self.resources[job_id]["state"] = state
            statuses.append(
                JobStatus(
                    PARSL_STATE.get(state, JobState.UNKNOWN),
                    job.get("reason") or None,
                    exit_code=job.get("exit_code"),
                )
            )
        return statuses

    def cancel(self, job_ids: Sequence[object]) -> list[bool]:
        cancelled = []
        for job_id in job_ids:
            try:
                self.client.jobs.cancel(int(str(job_id)))
                cancelled.append(True)
            except APIError as exc:  # 409: it had already ended
                log.info("block job %s not cancelled: %s", job_id, exc)
                cancelled.append(False)
            with self._lock:
                if job_id in self.resources:
                    self.resources[job_id]["state"] = "cancelled"
        return cancelled

    def live_jobs(self) -> list[str]:
        """The block jobs not known to have ended."""
        with self._lock:
            return [str(i) for i, r in self.resources.items() if r["state"] not in FINAL]

    def close(self) -> None:
        """Cancel every block job still alive; Parsl skips this when its executor is in a bad
        state, and a campaign must not leave jobs holding the user's allocation."""
        live = self.live_jobs()
        if live:
            self.cancel(live)
        self.client.close()

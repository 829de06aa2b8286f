"""The handle of one submitted task: a concurrent.futures.Future with the task's journal
facts (key, folder, state, attempts, CPU and wall seconds)."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hakutaku.workflows import states
from hakutaku.workflows.bundles import Bundle
from hakutaku.workflows.leases import Lease
from hakutaku.workflows.task import TaskSpec

if TYPE_CHECKING:
    from hakutaku.workflows.campaign import Campaign


class TaskFuture(Future[Any]):
    def __init__(self, campaign: Campaign, key: str, spec: TaskSpec, task_dir: Path) -> None:
        super().__init__()
        self.campaign = campaign
        self.key = key
        self.spec = spec
        self.task_dir = task_dir
        self.state = states.PENDING
        self.attempts = 0
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self.reused = False  # answered from the journal of an earlier run
        self.cores: list[int] = []  # its lease's (when the campaign pins cores)
        self.lease: Lease[TaskFuture] | None = None  # while handed to Parsl
        self.withdrawing = False  # asked to come back unstarted (to run on another lease)
        self.bundle: Bundle[TaskFuture] | None = None  # handed to Parsl with others as one
        self.call = b""  # a Python task's call in Parsl's format (packed once, at submit)

    @property
    def pool(self) -> str:
        return self.spec.pool

    def cancel(self) -> bool:
        """Cancel the task, running or not: a running one has its process tree killed and its
        slot freed. Its result then raises TaskCancelled. False if it had already ended."""
        return self.campaign.cancel(self)

    def __repr__(self) -> str:
        return f"<TaskFuture {self.key} {self.state}>"

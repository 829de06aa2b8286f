"""What a workflow task can end in besides a result, and what a campaign refuses."""

from __future__ import annotations


class WorkflowError(Exception):
    """A campaign was used wrongly (bad input, unknown pool, ...); the message says how to fix."""


class TaskError(Exception):
    """A task did not produce a result. `state` is failed, timeout or cancelled."""

    state = "failed"

    def __init__(self, message: str, task_dir: str = "") -> None:
        super().__init__(message)
        self.task_dir = task_dir


class TaskFailed(TaskError):
    state = "failed"


class TaskTimeout(TaskError):
    state = "timeout"


class TaskCancelled(TaskError):
    state = "cancelled"

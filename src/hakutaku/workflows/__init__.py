"""AI-coupled HPC workflows on Parsl: tasks (Python functions and executables) with per-task
CPUs, retries and timeouts; cancel of running tasks; a journal to resume; steering agents and
resource pools; surrogates. See docs/workflows.md."""

from hakutaku.workflows.campaign import Campaign
from hakutaku.workflows.errors import (
    TaskCancelled,
    TaskError,
    TaskFailed,
    TaskTimeout,
    WorkflowError,
)
from hakutaku.workflows.future import TaskFuture
from hakutaku.workflows.profiles import SlurmOptions

__all__ = [
    "Campaign",
    "SlurmOptions",
    "TaskCancelled",
    "TaskError",
    "TaskFailed",
    "TaskFuture",
    "TaskTimeout",
    "WorkflowError",
]

"""AI-coupled HPC workflows on Parsl: tasks (Python functions and executables) with per-task
CPUs, retries and timeouts; cancel of running tasks; a journal to resume; steering agents and
resource pools; surrogates. See docs/workflows.md.

The names below are imported on first use, so that the server, which needs only the journal's
tables (`hakutaku.workflows.store`), does not import Parsl."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "Campaign": "hakutaku.workflows.campaign",
    "SlurmOptions": "hakutaku.workflows.profiles",
    "TaskCancelled": "hakutaku.workflows.errors",
    "TaskError": "hakutaku.workflows.errors",
    "TaskFailed": "hakutaku.workflows.errors",
    "TaskFuture": "hakutaku.workflows.future",
    "TaskTimeout": "hakutaku.workflows.errors",
    "WorkflowError": "hakutaku.workflows.errors",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hakutaku.workflows' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value

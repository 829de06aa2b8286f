"""A task as the platform sees it before Parsl does: what to run, where, with what resources,
and the key (hash of its inputs) the journal knows it by."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hakutaku.workflows.errors import WorkflowError

PYTHON = "python"
EXECUTABLE = "executable"
NAME_LENGTH = 100


@dataclass(slots=True)
class TaskSpec:
    kind: str  # python | executable
    name: str
    pool: str
    cpus: int
    retries: int
    timeout: float | None
    fn: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    cards: int = 0  # accelerator cards (billed; the platform does not pin them)
    mpi: bool = False  # argv starts with the MPI launcher the campaign put there

    def validate(self) -> None:
        if self.cpus < 1:
            raise WorkflowError(f"task {self.name!r}: cpus must be at least 1, not {self.cpus}")
        if self.cards < 0:
            raise WorkflowError(f"task {self.name!r}: cards must be 0 or more, not {self.cards}")
        if self.retries < 0:
            raise WorkflowError(f"task {self.name!r}: retries must be 0 or more")
        if self.timeout is not None and self.timeout <= 0:
            raise WorkflowError(f"task {self.name!r}: timeout must be positive seconds or None")
        if self.kind == EXECUTABLE and not self.argv:
            raise WorkflowError(
                "an executable task needs a command, e.g. ['mpiexec', '-n', '2', 'app']"
            )
        if self.kind == PYTHON and not callable(self.fn):
            raise WorkflowError(f"task {self.name!r}: submit a callable, not {self.fn!r}")

    def digest(self) -> str:
        """Hash of what the task computes: the function's qualified name or the command, and
        its arguments. The same inputs give the same key in a resumed run."""
        h = hashlib.sha256()
        if self.kind == PYTHON:
            fn = self.fn
            h.update(f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', fn)}".encode())
            try:
                h.update(pickle.dumps((self.args, sorted(self.kwargs.items())), protocol=5))
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise WorkflowError(
                    f"task {self.name!r}: its arguments cannot be pickled ({exc}); pass plain "
                    "data, numpy arrays or file paths"
                ) from exc
        else:
            h.update("\0".join(self.argv).encode())
        return h.hexdigest()[:20]


def task_name(fn: Callable[..., Any] | None, argv: list[str] | None) -> str:
    if fn is not None:
        name = str(getattr(fn, "__name__", "task"))
    else:
        name = (argv or ["exe"])[0].rsplit("/", 1)[-1]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:NAME_LENGTH] or "task"

"""Mark methods of any Python object as callable through the platform.

A worker (`hai worker file.py:Class`) hosts one object; each method decorated with
`@remote` becomes `POST /v1/models/{model}/{method}` on the gateway. Plain functions,
coroutines, generators and async generators all work: generators are streamed item by item.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

REMOTE_ATTR = "__hai_remote__"


@dataclass(frozen=True)
class RemoteSpec:
    """What `@remote` records on a method."""

    name: str
    doc: str


def remote(fn: F | None = None, *, name: str | None = None) -> Any:
    """Expose a method to platform callers; usable as `@remote` or `@remote(name="x")`."""

    def mark(f: F) -> F:
        spec = RemoteSpec(name=name or f.__name__, doc=inspect.getdoc(f) or "")
        setattr(f, REMOTE_ATTR, spec)
        return f

    return mark(fn) if fn is not None else mark


class RemoteModel:
    """Optional base class for hosted models.

    Subclasses set `name` (the model name callers use) and may override `setup()` to load
    weights once in the worker process, after construction and before the first call.
    """

    name: ClassVar[str | None] = None
    description: ClassVar[str] = ""
    max_inflight: ClassVar[int | None] = None

    def setup(self) -> None:
        """Load what the model needs; runs once in the worker before serving."""


@dataclass(frozen=True)
class MethodInfo:
    """A remote method as the worker advertises it."""

    name: str
    kind: str  # "sync" | "async" | "generator" | "asyncgen"
    params: list[str]
    doc: str
    func: Callable[..., Any]

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params, "doc": self.doc}


def _kind(func: Callable[..., Any]) -> str:
    if inspect.isasyncgenfunction(func):
        return "asyncgen"
    if inspect.isgeneratorfunction(func):
        return "generator"
    if inspect.iscoroutinefunction(func):
        return "async"
    return "sync"


def remote_methods(obj: object) -> dict[str, MethodInfo]:
    """The `@remote` methods of an object (bound), by their remote name."""
    found: dict[str, MethodInfo] = {}
    for attr in dir(type(obj)):
        raw = getattr(type(obj), attr, None)
        spec = getattr(raw, REMOTE_ATTR, None)
        if raw is None or not isinstance(spec, RemoteSpec):
            continue
        bound = getattr(obj, attr)
        params = [
            p.name
            for p in inspect.signature(bound).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        found[spec.name] = MethodInfo(spec.name, _kind(raw), params, spec.doc, bound)
    return found

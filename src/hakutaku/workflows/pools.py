"""Resource pools: named CPU budgets ("simulate", "train") sharing one campaign's slots.

A task waits in its pool's queue until the pool has as many free CPUs as it asks for; a
rebalance moves CPUs between pools while tasks run (a pool shrunk below its use lets its
running tasks finish and admits no more until it is under its new size)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from hakutaku.workflows.errors import WorkflowError

T = TypeVar("T")


@dataclass(slots=True)
class Pool(Generic[T]):
    name: str
    capacity: int
    used: int = 0
    queue: deque[T] = field(default_factory=deque)

    @property
    def free(self) -> int:
        return self.capacity - self.used


class Pools(Generic[T]):
    def __init__(self, sizes: dict[str, int]) -> None:
        if not sizes:
            raise WorkflowError("give at least one pool, e.g. pools={'default': 2}")
        for name, size in sizes.items():
            if not isinstance(size, int) or size < 0:
                raise WorkflowError(f"pool {name!r}: size must be a whole number of CPUs >= 0")
        self._pools = {name: Pool[T](name, size) for name, size in sizes.items()}
        self.total = sum(sizes.values())

    def __getitem__(self, name: str) -> Pool[T]:
        try:
            return self._pools[name]
        except KeyError:
            raise WorkflowError(
                f"no pool named {name!r}; this campaign has {', '.join(self._pools)}"
            ) from None

    def __iter__(self) -> Iterator[Pool[T]]:
        return iter(self._pools.values())

    def sizes(self) -> dict[str, int]:
        return {p.name: p.capacity for p in self._pools.values()}

    def move(self, source: str, target: str, cpus: int) -> None:
        """Move `cpus` of capacity from one pool to another (the total stays the same)."""
        a, b = self[source], self[target]
        if cpus < 0 or cpus > a.capacity:
            raise WorkflowError(
                f"cannot move {cpus} CPUs out of pool {source!r}, which has {a.capacity}"
            )
        a.capacity -= cpus
        b.capacity += cpus

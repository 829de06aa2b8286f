"""Bundles: several short tasks of one pool handed to Parsl as one Parsl task.

Every Parsl task costs a round through the interchange, a manager and a worker (~1.5 ms of
CPU on this kind of machine), more than a task of a few milliseconds computes. When a pool's
queue is deep with tasks known to be short, the campaign hands several of them to Parsl as
one (`execute.execute_bundle`): one lease, one Parsl worker, the members run one after
another in the worker's resident runner, and their outcomes come back together when the last
has ended.

What is short is learnt, never guessed: the campaign keeps the typical wall time of each task
name (`WallTimes`, from the outcomes). A bundle is only made of

- tasks whose name has ended at least once with a typical wall time under SHORT_SECONDS
  (a new name, or a long one, always goes alone: long and unknown tasks run as before);
- first attempts (a retry goes alone), of the pool's queue head's CPU count, in queue order;
- at most MAX_TASKS of them, with an expected wall time of at most BUNDLE_SECONDS together;
- and only while the queue is deep enough that every slot of the pool gets at least as many
  tasks (a queue of one, the sequential case, is never bundled, nor is a short queue that
  would leave a free slot idle).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

MAX_TASKS = 16  # members of one bundle, at most (the campaign's default `bundle`)
SHORT_SECONDS = 0.005  # a task name whose typical wall time is under this may be bundled
BUNDLE_SECONDS = 0.02  # the expected wall time of one bundle, at most
WINDOW = 16  # the typical wall time follows the last ~WINDOW outcomes of a name


class _Spec(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def cpus(self) -> int: ...


class _Task(Protocol):
    @property
    def spec(self) -> _Spec: ...

    @property
    def attempts(self) -> int: ...


T = TypeVar("T", bound=_Task)


@dataclass(eq=False, slots=True)
class Bundle(Generic[T]):
    """Tasks handed to Parsl as one; `left`: those whose outcome has not been taken yet."""

    members: list[T]
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.left = len(self.members)


class WallTimes:
    """The typical wall time of each task name: the mean of its first outcomes, then a
    moving mean over about the last WINDOW (so a name that turns long stops being bundled
    within a few tasks: one 10 s outcome raises a 1 ms mean to ~0.6 s)."""

    def __init__(self) -> None:
        self._means: dict[str, tuple[int, float]] = {}

    def add(self, name: str, seconds: float) -> None:
        count, mean = self._means.get(name, (0, 0.0))
        count += 1
        self._means[name] = (count, mean + (seconds - mean) / min(count, WINDOW))

    def typical(self, name: str) -> float | None:
        """The name's typical wall time in seconds; None before its first outcome."""
        entry = self._means.get(name)
        return None if entry is None else entry[1]


def bundle_size(queue: deque[T], slots: int, limit: int, walls: WallTimes) -> int:
    """How many tasks from the head of `queue` go to Parsl as one (1: the head alone).
    `slots`: how many tasks like the head the pool runs at once; `limit`: the campaign's
    most per bundle."""
    most = min(limit, len(queue) // max(1, slots))
    if most < 2:
        return 1
    return max(1, _fitting(queue, most, walls))


def _fitting(queue: Iterable[T], most: int, walls: WallTimes) -> int:
    budget = BUNDLE_SECONDS
    taken = 0
    cpus = -1
    for task in queue:
        if taken == most:
            break
        spec = task.spec
        typical = walls.typical(spec.name)
        if typical is None or typical >= SHORT_SECONDS or task.attempts:
            break
        if cpus < 0:
            cpus = spec.cpus
        elif spec.cpus != cpus:
            break
        budget -= typical
        if budget < 0:
            break
        taken += 1
    return taken

"""Task functions the workflow tests submit (importable by Parsl's workers)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np


def add(a: int, b: int) -> int:
    return a + b


def noop() -> None:
    return None


def big_array(n: int) -> dict[str, object]:
    return {"x": np.arange(n, dtype=np.float64), "n": n}


def fail(message: str) -> None:
    raise ValueError(message)


def flaky(marker: str) -> str:
    """Fails on its first attempt, succeeds on the second (the marker file counts attempts)."""
    path = Path(marker)
    attempts = int(path.read_text()) if path.exists() else 0
    path.write_text(str(attempts + 1))
    if attempts == 0:
        raise RuntimeError("first attempt fails")
    return f"ok after {attempts + 1}"


def sleep_tree(seconds: float, children: int) -> None:
    """Sleep with `children` grandchild processes (a process tree to kill)."""
    procs = [subprocess.Popen(["sleep", str(seconds)]) for _ in range(children)]
    time.sleep(seconds)
    for p in procs:
        p.wait()


def cpus_seen() -> tuple[int, str]:
    return len(os.sched_getaffinity(0)), os.environ["HAI_TASK_CPUS"]


def counted(i: int, log: str, seconds: float) -> int:
    """A task whose every execution leaves a line in `log`, to count reruns."""
    with open(log, "a") as handle:
        handle.write(f"{i}\n")
    time.sleep(seconds)
    return i * i


def objective(x: float) -> float:
    """A smooth 'simulation' the surrogate tests learn."""
    return float(np.sin(3 * x) + 0.5 * x)


def hold(seconds: float) -> float:
    time.sleep(seconds)
    return seconds

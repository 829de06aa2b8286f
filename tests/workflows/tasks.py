"""Task functions the workflow tests submit (importable by Parsl's workers)."""

from __future__ import annotations

import os
import subprocess
import sys
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


# ---------------------------------------------------------------------- the resident runner

_remembered: list[object] = []  # module state that lives as long as the runner's interpreter


def runner_pid() -> int:
    return os.getpid()


def hold_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def exit_interpreter(code: int) -> None:
    os._exit(code)


def segfault() -> None:
    import ctypes

    ctypes.string_at(0)  # reads address 0: SIGSEGV


def burn_cpu(seconds: float, in_child: bool) -> int:
    """Use `seconds` of CPU time, here or in a child process it waits for; leave state."""
    _remembered.append(bytearray(1 << 20))
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < %r: pass"
    if in_child:
        subprocess.run([sys.executable, "-c", code % seconds], check=True)
    else:
        started = time.process_time()
        while time.process_time() - started < seconds:
            pass
    return os.getpid()


def remember(item: object) -> int:
    _remembered.append(item)
    return len(_remembered)


def where_am_i() -> tuple[str, str, str, int]:
    """Working directory, HAI_TASK_DIR, OMP_NUM_THREADS and the cores it may use."""
    return (
        os.getcwd(),
        os.environ["HAI_TASK_DIR"],
        os.environ["OMP_NUM_THREADS"],
        len(os.sched_getaffinity(0)),
    )


def wander_off(folder: str) -> int:
    """Leaves the interpreter somewhere else: another cwd and a changed task variable."""
    os.chdir(folder)
    os.environ["HAI_TASK_DIR"] = folder
    return os.getpid()


# ---------------------------------------------------------------------- prefetch and leases


def occupy(folder: str, pool: str, seconds: float) -> dict[str, int]:
    """Say, while running for `seconds`, how many tasks run at once (of `pool`, in all) and
    whether one of them shares a core with this one. Each running task has a file in
    `folder` naming its pool and cores from its start to its end: two tasks that overlap in
    time both have theirs while the later one looks."""
    import json
    import uuid

    cores = sorted(os.sched_getaffinity(0))
    mine = Path(folder) / f"{pool}-{uuid.uuid4().hex}"
    staged = mine.with_suffix(".tmp")
    staged.write_text(json.dumps({"pool": pool, "cores": cores}))
    staged.rename(mine)  # appears with its content
    try:
        same = everyone = shared = 0
        for other in Path(folder).iterdir():
            if other.suffix == ".tmp":
                continue
            try:
                seen = json.loads(other.read_text())
            except (OSError, ValueError):
                continue  # it ended while this one looked
            everyone += 1
            same += seen["pool"] == pool
            if other != mine and set(seen["cores"]) & set(cores):
                shared += 1
        time.sleep(seconds)
        return {"pool": same, "all": everyone, "shared": shared, "cpus": len(cores)}
    finally:
        mine.unlink()


# ---------------------------------------------------------------------- bundles


def gated(i: int, log: str, gate: str) -> int:
    """Log `i`; then, given a gate file, wait (a minute at most) until it exists. Returns i."""
    with open(log, "a") as handle:
        handle.write(f"{i}\n")
    deadline = time.monotonic() + 60
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.005)
    return i

"""Task functions bench/workflows.py submits (a module of their own, so that Parsl's workers
import them by name rather than receiving functions defined in `__main__`)."""

from __future__ import annotations

import time


def noop() -> None:
    return None


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds

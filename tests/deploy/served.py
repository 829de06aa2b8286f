"""Models that deployments serve in the tests (loaded by path in worker jobs)."""

from __future__ import annotations

import os
import time

from hakutaku.workers import RemoteModel, remote


class Echo(RemoteModel):
    """Version 1: answers with its version and process."""

    max_inflight = 64
    version = 1

    @remote
    def add(self, a: float, b: float) -> float:
        return a + b

    @remote
    def whoami(self) -> dict[str, int]:
        return {"version": self.version, "pid": os.getpid()}

    @remote
    def slow(self, seconds: float) -> int:
        time.sleep(seconds)
        return self.version


class EchoV2(Echo):
    """Version 2 of the same model."""

    version = 2


class SlowStart(Echo):
    """A model whose start takes a few seconds (loading weights, say)."""

    def setup(self) -> None:
        time.sleep(float(os.environ.get("SLOW_START_S", "4")))

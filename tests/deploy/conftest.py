"""A real server on the local backend with room for a few replicas, and its user alice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import Platform

SERVED = str(Path(__file__).parent / "served.py")

# Fast ticks so that the tests wait seconds, not minutes; room for four 1-CPU replicas.
DEPLOY_TIMINGS = {
    "HAI_DEPLOY_INTERVAL": "0.25",
    "HAI_SCHEDULER_INTERVAL": "0.25",
    "HAI_ACCOUNTING_INTERVAL": "1",
    "HAI_LOCAL_CPUS": "8",
    "HAI_LOCAL_MEM_MB": "16000",
    "HAI_DEMO_WORKERS": "false",
}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str]]:
    platform = Platform(tmp_path_factory.mktemp("deploy") / "home", **DEPLOY_TIMINGS).start()
    try:
        yield platform, platform.add_user_key("alice")
    finally:
        platform.stop()

"""A real server on the local backend with room for a few replicas, and its user alice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hakutaku.sdk.errors import APIError
from tests.support.processes import Platform, wait_until

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
        stop_with_deployments(platform)


def stop_with_deployments(platform: Platform) -> None:
    """Delete every deployment left (a failed test's), so that no replica job outlives the
    test (local jobs outlive the server on purpose), then stop the server."""
    try:
        c = platform.client()
        for d in c.deployments.list():
            if d["state"] == "active":
                c.deployments.delete(d["name"])
        wait_until(lambda: c.deployments.list() == [], 60, "the deployments to be deleted")
    except (OSError, TimeoutError, httpx.HTTPError, APIError) as exc:
        print(f"could not delete the deployments left on {platform.url}: {exc}")
    finally:
        platform.stop()

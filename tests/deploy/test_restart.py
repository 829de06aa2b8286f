"""A server restart under a deployment: the replicas (local jobs, which outlive the server) are
adopted by the new server's controller, not replaced or doubled, and calls work again."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY_TIMINGS, SERVED, stop_with_deployments
from tests.support.processes import Platform, wait_until


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_a_restarted_server_adopts_the_replicas(tmp_path: Path, how: signal.Signals) -> None:
    platform = Platform(tmp_path / "home", **DEPLOY_TIMINGS).start()
    try:
        alice = platform.add_user_key("alice")
        c = platform.client(alice)
        c.deployments.create(
            "kept", worker=f"{SERVED}:Echo", mem="300M", min_replicas=2, max_replicas=3
        )
        before = c.deployments.wait_ready("kept", replicas=2, timeout=120)["replicas"]
        jobs = {r["job_id"] for r in before}
        pids = {w["pid"] for w in platform.live_workers("kept")}
        assert c.models.call("kept", "add", {"a": 1, "b": 2}) == 3

        platform.stop(how)
        platform.start()

        # Calls are answered by the same workers, in the same jobs.
        assert c.models.call("kept", "add", {"a": 2, "b": 2}) == 4
        wait_until(
            lambda: {w["pid"] for w in platform.live_workers("kept")} == pids,
            30,
            "both workers to beat to the new server",
        )
        # The new controller acts on the deployment (one more replica) and keeps the two it
        # found: it neither replaced them nor started doubles.
        c.deployments.scale("kept", min_replicas=3)
        d = c.deployments.wait_ready("kept", replicas=3, timeout=120)
        ready = {r["job_id"] for r in d["replicas"] if r["state"] == "ready"}
        assert jobs < ready and len(ready) == 3
        assert [r for r in d["replicas"] if r["job_id"] not in ready] == []
        assert d["failures"] == 0, d["message"]
        for i in range(20):
            assert c.models.call("kept", "add", {"a": i, "b": 1}) == i + 1
    finally:
        stop_with_deployments(platform)

"""Deployments on the local backend, through a real server, real worker jobs and real calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hakutaku.sdk.errors import APIError
from tests.deploy.conftest import DEPLOY_TIMINGS, SERVED, stop_with_deployments
from tests.deploy.load import Load
from tests.support.processes import Platform, wait_until

Local = tuple[Platform, str]


def _replicas(platform: Platform, key: str, name: str, state: str = "ready") -> list[dict]:
    d = platform.client(key).deployments.get(name)
    return [r for r in d["replicas"] if r["state"] == state]


def test_create_call_replace_a_killed_replica(local: Local) -> None:
    platform, alice = local
    c = platform.client(alice)
    d = c.deployments.create("echo", worker=f"{SERVED}:Echo", mem="300M", target_inflight=2)
    assert d["desired"] == 1 and d["kind"] == "worker"
    first = c.deployments.wait_ready("echo", timeout=120)["replicas"][0]
    assert c.models.call("echo", "add", {"a": 2, "b": 40}) == 42
    # The replica is alice's job, like any other (same policy, limits and accounting).
    job = c.jobs.get(first["job_id"])
    assert job["user"] == "alice" and job["name"] == "deploy:echo:1" and job["state"] == "running"
    # Its worker holds a token scoped to the model, not the global one.
    (token,) = c.models.worker_tokens("echo")
    assert token["deployment_id"] is not None

    with Load(platform.url, alice, "echo", "add", {"a": 1, "b": 1}, clients=2) as load:
        wait_until(lambda: load.calls > 20, 30, "calls to flow")
        pid = platform.live_workers("echo")[0]["pid"]
        os.kill(pid, signal.SIGKILL)  # the worker dies; its job fails
        wait_until(
            lambda: [
                r for r in _replicas(platform, alice, "echo") if r["job_id"] != first["job_id"]
            ],
            120,
            "a replacement replica",
        )
        before = load.calls
        wait_until(lambda: load.calls > before + 20, 30, "calls to the replacement")
    # At most the calls in flight on the killed worker fail (502); the rest wait for the new one.
    assert load.statuses[200] > 40
    assert set(load.statuses) <= {200, 502}, load.failures[:5]
    assert load.statuses[502] <= 2, load.failures
    shown = c.deployments.get("echo")
    killed = next(r for r in shown["replicas"] if r["job_id"] == first["job_id"])
    assert killed["state"] == "ended" and killed["ended_why"].startswith("failed")
    assert shown["failures"] == 0  # reset once the replacement answered
    c.deployments.delete("echo")
    wait_until(lambda: "echo" not in [x["name"] for x in c.deployments.list()], 60, "deletion")
    assert all(
        r["state"] != "running" for r in c.jobs.list() if r["name"].startswith("deploy:echo")
    )


def test_load_scales_up_and_idle_scales_back(local: Local) -> None:
    platform, alice = local
    c = platform.client(alice)
    c.deployments.create(
        "busy", worker=f"{SERVED}:Echo", mem="300M", min_replicas=1, max_replicas=3,
        target_inflight=2, idle_timeout="3s",
    )  # fmt: skip
    c.deployments.wait_ready("busy", timeout=120)
    with Load(platform.url, alice, "busy", "slow", {"seconds": 0.3}, clients=6) as load:
        # 6 calls in flight, 2 per replica wanted: 3 replicas.
        c.deployments.wait_ready("busy", replicas=3, timeout=120)
        assert c.deployments.get("busy")["desired"] == 3
    assert set(load.statuses) == {200}, load.failures[:5]
    # Idle for the idle timeout: back to the minimum, the others drained and stopped.
    wait_until(lambda: len(_replicas(platform, alice, "busy")) == 1, 60, "scale back to 1")
    d = c.deployments.get("busy")
    assert d["desired"] == 1 and d["failures"] == 0
    wait_until(
        lambda: (
            len([r for r in c.deployments.get("busy")["replicas"] if r["state"] == "ended"]) == 2
        ),
        60,
        "the two extra replicas to end",
    )
    c.deployments.delete("busy")


def test_scaled_to_zero_the_first_call_waits_for_a_cold_start(local: Local) -> None:
    platform, alice = local
    c = platform.client(alice)
    c.deployments.create(
        "cold", worker=f"{SERVED}:Echo", mem="300M", min_replicas=0, max_replicas=1,
        idle_timeout="2s",
    )  # fmt: skip
    time.sleep(1)
    assert c.deployments.get("cold")["replicas"] == []  # nothing runs until it is called
    # Listed for callers although no worker runs, so that they can call it at all.
    assert "cold" in [m["id"] for m in c.models.list()]
    assert c.models.call("cold", "add", {"a": 1, "b": 2}) == 3
    # The call itself brought a replica up: none ran before it, one has since.
    assert len(c.deployments.get("cold")["replicas"]) == 1
    # Idle again: back to zero.
    wait_until(lambda: c.deployments.get("cold")["desired"] == 0, 60, "scale back to zero")
    wait_until(
        lambda: all(r["state"] == "ended" for r in c.deployments.get("cold")["replicas"]),
        60,
        "the replica to end",
    )
    c.deployments.delete("cold")


def test_a_rolling_update_under_load_fails_no_call(local: Local) -> None:
    platform, alice = local
    c = platform.client(alice)
    c.deployments.create(
        "roll", worker=f"{SERVED}:Echo", mem="300M", min_replicas=2, max_replicas=2
    )
    c.deployments.wait_ready("roll", replicas=2, timeout=120)
    with Load(platform.url, alice, "roll", "slow", {"seconds": 0.05}, clients=4) as load:
        wait_until(lambda: load.calls > 20, 30, "calls to flow")
        d = c.deployments.update("roll", worker=f"{SERVED}:EchoV2")
        assert d["generation"] == 2
        c.deployments.wait_ready("roll", replicas=2, generation=2, timeout=120)
        wait_until(
            lambda: (
                not [r for r in _replicas(platform, alice, "roll") if r["generation"] == 1]
                and not _replicas(platform, alice, "roll", "draining")
            ),
            60,
            "the old replicas to drain",
        )
        before = load.results["2"]
        wait_until(lambda: load.results["2"] > before + 20, 30, "calls to version 2")
    assert load.failures == [], load.failures[:5]
    assert load.results["1"] > 0 and load.results["2"] > 0
    for _ in range(10):
        assert c.models.call("roll", "whoami")["version"] == 2
    c.deployments.delete("roll")


def test_bad_deployments_are_refused_saying_why(local: Local) -> None:
    platform, alice = local
    c = platform.client(alice)
    cases = [
        (dict(worker="relative.py:X"), "absolute path"),
        (dict(module="no_colon"), "package.module:Class"),
        (dict(module="m:C", partition="nope"), "No partition 'nope'"),
        (dict(module="m:C", min_replicas=3, max_replicas=2), "0 ≤ min ≤ max"),
        (dict(module="m:C", idle_timeout="soon"), "idle timeout"),
        (dict(openai_server="vllm serve /models/m"), "where its port goes"),
        (dict(hub="pfn:1"), "no weights registered for 'pfn'"),
    ]
    for kwargs, message in cases:
        with pytest.raises(APIError, match=message):
            c.deployments.create("bad", **kwargs)  # type: ignore[arg-type]
    # A name another user owns cannot be deployed.
    c.models.create_worker_token("alice-only")
    bob = platform.add_user_key("bob")
    with pytest.raises(APIError, match="belongs to another user"):
        platform.client(bob).deployments.create("alice-only", module="m:C")
    with pytest.raises(APIError, match="No deployment"):
        platform.client(bob).deployments.get("echo")


def test_replica_jobs_are_billed_to_the_owner_and_set_against_calls(local: Local) -> None:
    platform, alice = local
    c = platform.client(alice)
    c.deployments.create("billed", worker=f"{SERVED}:Echo", mem="300M")
    c.deployments.wait_ready("billed", timeout=120)
    for i in range(10):
        assert c.models.call("billed", "add", {"a": i, "b": 1}) == i + 1
    job_ids = [r["job_id"] for r in c.deployments.get("billed")["replicas"]]
    c.deployments.delete("billed")
    wait_until(lambda: "billed" not in [x["name"] for x in c.deployments.list()], 60, "deletion")
    # The replica's CPU-hours enter the ledger as alice's job (accounting runs every second).
    with platform.http(alice) as h:

        def ledger_rows() -> list[dict]:
            rows = h.get("/api/usage/ledger").json()
            return [r for r in rows if r["source"] == "job" and int(r["ref"]) in job_ids]

        rows = wait_until(ledger_rows, 60, "the replica's ledger rows")
    assert {r["resource"] for r in rows} == {"cpu"}
    assert all(float(r["quantity"]) > 0 for r in rows)


def test_a_cold_start_past_its_bound_is_a_503_with_retry_after(tmp_path: Path) -> None:
    platform = Platform(tmp_path / "home", **DEPLOY_TIMINGS, HAI_DEPLOY_COLD_START_WAIT="1").start()
    try:
        c = platform.client()
        c.deployments.create(
            "sleepy", worker=f"{SERVED}:SlowStart", mem="300M", min_replicas=0, max_replicas=1
        )
        with platform.http() as h:
            r = h.post("/v1/models/sleepy/add", json={"a": 1, "b": 1})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "model_cold_starting"
        assert int(r.headers["retry-after"]) >= 1
        # The call asked for a replica: it comes up, and the retry succeeds.
        c.deployments.wait_ready("sleepy", timeout=120)
        assert c.models.call("sleepy", "add", {"a": 1, "b": 1}) == 2
    finally:
        stop_with_deployments(platform)


def test_hai_usage_deployments_sets_calls_against_the_replicas_cost(local: Local) -> None:
    platform, alice = local
    c = platform.client(alice)
    with platform.http() as admin:
        assert admin.put("/api/prices/cpu", json={"price": "0.05"}).is_success
    c.deployments.create("metered", worker=f"{SERVED}:Echo", mem="300M")
    first = c.deployments.wait_ready("metered", timeout=120)["replicas"][0]
    for i in range(10):
        assert c.models.call("metered", "add", {"a": i, "b": 0}) == i
    # The first replica ends (replaced by a new version): its CPU-hours enter the ledger.
    c.deployments.update("metered", worker=f"{SERVED}:EchoV2")

    def costed() -> dict | None:
        rows = [r for r in c.usage.deployments() if r["name"] == "metered"]
        return rows[0] if rows and rows[0]["cost"] > 0 else None

    row = wait_until(costed, 120, "the first replica's cost")
    job = c.jobs.get(first["job_id"])
    assert job["state"] in ("cancelled", "completed")
    assert row["owner"] == "alice" and row["calls"] == 10
    assert row["resources"]["cpu (hour)"] > 0
    assert row["cost"] == pytest.approx(row["resources"]["cpu (hour)"] * 0.05, rel=1e-3)
    assert row["cost_per_1k_calls"] == pytest.approx(row["cost"] / 10 * 1000, rel=1e-3)
    assert row["currency"]
    # One month only, and a month with nothing in it.
    month = job["ended_at"][:7]
    assert c.usage.deployments(period=month)[0]["calls"] >= 10
    (empty,) = [r for r in c.usage.deployments(period="2001-01") if r["name"] == "metered"]
    assert empty["calls"] == 0 and empty["cost"] == 0 and empty["cost_per_1k_calls"] is None
    with pytest.raises(APIError, match="YYYY-MM"):
        c.usage.deployments(period="January")
    # Another user sees only their own deployments.
    bob = platform.add_user_key("bob2")
    assert platform.client(bob).usage.deployments() == []
    # The command line prints the same.
    env = {**platform.env, "HAI_API_KEY": alice}
    printed = subprocess.run(
        [sys.executable, "-m", "hakutaku", "usage", "deployments"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    line = next(x for x in printed.stdout.splitlines() if x.split()[:1] == ["metered"])
    assert line.split()[1:4] == ["alice", "10", f"{row['cost']:.9f}".rstrip("0")], line
    c.deployments.delete("metered")

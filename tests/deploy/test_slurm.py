"""A deployment on the real Slurm (deploy/slurm): its replicas are the owner's Slurm jobs on
the partition asked for, run as the owner's Unix user, replaced when their worker is killed or
their job is cancelled behind the platform's back, scaled down by draining, billed in
card-hours."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.deploy.conftest import SERVED, stop_with_deployments
from tests.deploy.load import Load
from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster, python_for_job_users

OnSlurm = tuple[Platform, str]


@pytest.fixture(scope="module")
def on_slurm(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OnSlurm]:
    platform = Platform(
        tmp_path_factory.mktemp("deploy-slurm") / "home",
        HAI_SCHEDULER_INTERVAL="0.5",
        HAI_DEPLOY_INTERVAL="0.5",
        HAI_ACCOUNTING_INTERVAL="1",
        # The workers run as alice: with a Python she can execute (the test's own may be in
        # /root), as a cluster's platform is installed on storage every node and user reaches.
        HAI_DEPLOY_PYTHON=str(python_for_job_users(slurm_cluster.jobs_dir)),
        **slurm_cluster.platform_env("deploy"),
    ).start()
    try:
        yield platform, platform.add_user_key("alice", groups=("physics",))
    finally:
        stop_with_deployments(platform)


def _ready(platform: Platform, key: str, name: str) -> dict[int, dict]:
    d = platform.client(key).deployments.get(name)
    return {r["job_id"]: r for r in d["replicas"] if r["state"] == "ready"}


def test_a_deployment_on_slurm_serves_is_replaced_scales_down_and_bills_card_hours(
    on_slurm: OnSlurm,
) -> None:
    platform, alice = on_slurm
    c = platform.client(alice)
    c.deployments.create(
        "tagger", worker=f"{SERVED}:Echo", partition="gpu", gpus="a800:1", mem="500M",
        time="0:20:00", min_replicas=2, max_replicas=2,
    )  # fmt: skip
    first = c.deployments.wait_ready("tagger", replicas=2, timeout=180)["replicas"]
    killed, cancelled = (r["job_id"] for r in first)
    for replica in first:
        job = c.jobs.get(replica["job_id"])
        assert job["backend"] == "slurm" and job["external_id"] and job["user"] == "alice"
        assert job["partition"] == "gpu" and job["accelerators"] == 1
    assert c.models.call("tagger", "add", {"a": 2, "b": 40}) == 42
    # The worker runs as alice, the owner, not as the server's user.
    whoami = c.models.call("tagger", "whoami")
    assert os.stat(f"/proc/{whoami['pid']}").st_uid == pwd.getpwnam("alice").pw_uid

    with Load(platform.url, alice, "tagger", "add", {"a": 1, "b": 1}, clients=2) as load:
        wait_until(lambda: load.calls > 20, 30, "calls to flow")
        # 1. The worker process dies (its job fails): a new job replaces it.
        pid = next(w["pid"] for w in platform.live_workers("tagger") if w["job_id"] == killed)
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: len(set(_ready(platform, alice, "tagger")) - {killed}) == 2,
            180,
            "a replacement for the killed worker",
        )
        # 2. The job is cancelled in Slurm, behind the platform's back: replaced too.
        external = c.jobs.get(cancelled)["external_id"]
        subprocess.run(["scancel", external], check=True, timeout=60)
        wait_until(
            lambda: len(set(_ready(platform, alice, "tagger")) - {killed, cancelled}) == 2,
            180,
            "a replacement for the cancelled job",
        )
        before = load.calls
        wait_until(lambda: load.calls > before + 20, 60, "calls to the replacements")
    # At most the calls in flight on the killed worker fail (502); the others are answered.
    assert set(load.statuses) <= {200, 502}, load.failures[:5]
    assert load.statuses[502] <= 2, load.failures
    shown = {r["job_id"]: r for r in c.deployments.get("tagger")["replicas"]}
    assert shown[killed]["state"] == "ended" and shown[killed]["ended_why"].startswith("failed")
    assert shown[cancelled]["state"] == "ended"
    assert shown[cancelled]["ended_why"].startswith("cancelled")

    # Scale down: one replica is drained and its job ends; the other keeps answering.
    c.deployments.scale("tagger", min_replicas=1, max_replicas=1)

    def leaving() -> list[dict]:
        replicas = c.deployments.get("tagger")["replicas"]
        return [r for r in replicas if r["state"] in ("draining", "stopping")]

    wait_until(lambda: len(_ready(platform, alice, "tagger")) == 1, 60, "scale down to 1")
    wait_until(lambda: not leaving(), 60, "the drained replica to end")
    assert c.models.call("tagger", "add", {"a": 1, "b": 2}) == 3

    job_ids = list(shown)
    c.deployments.delete("tagger")
    wait_until(lambda: c.deployments.list() == [], 120, "the deployment to be deleted")
    for job_id in job_ids:  # no job of it is left in Slurm
        wait_until(lambda j=job_id: c.jobs.get(j)["state"] not in ("pending", "running"), 60,
                   f"job {job_id} to end")  # fmt: skip
    # Every replica job that ran a second or more by Slurm's clock (one killed at once may
    # not have) is in the ledger as alice's, in CPU- and card-hours of the model it had.
    ran = [j for j in job_ids if _seconds(c.jobs.get(j)) >= 1]
    assert len(ran) >= 3, [c.jobs.get(j) for j in job_ids]
    with platform.http(alice) as h:

        def card_hours() -> list[dict]:
            rows = h.get("/api/usage/ledger").json()
            mine = [r for r in rows if r["source"] == "job" and int(r["ref"]) in ran]
            return mine if {int(r["ref"]) for r in mine} == set(ran) else []

        rows = wait_until(card_hours, 120, "ledger rows for the replica jobs")
    assert {r["resource"] for r in rows} == {"cpu", "gpu:a800"}
    assert all(float(r["quantity"]) > 0 for r in rows)


def _seconds(job: dict) -> float:
    start, end = (datetime.fromisoformat(job[k]) for k in ("started_at", "ended_at"))
    return (end - start).total_seconds()


def test_on_slurm_load_scales_up_an_update_fails_no_call_and_zero_cold_starts(
    on_slurm: OnSlurm,
) -> None:
    platform, alice = on_slurm
    c = platform.client(alice)
    c.deployments.create(
        "elastic", worker=f"{SERVED}:Echo", mem="300M", time="0:20:00", min_replicas=1,
        max_replicas=2, target_inflight=2, idle_timeout="3s",
    )  # fmt: skip
    c.deployments.wait_ready("elastic", timeout=180)
    # A load step: 4 calls always in flight, 2 wanted per replica → a second Slurm job.
    with Load(platform.url, alice, "elastic", "slow", {"seconds": 0.2}, clients=4) as step:
        c.deployments.wait_ready("elastic", replicas=2, timeout=180)
    assert step.failures == [], step.failures[:5]
    # Idle: back to one (the test node has 2 CPUs: an update needs one free for its surge).
    wait_until(
        lambda: (
            len([r for r in c.deployments.get("elastic")["replicas"] if r["state"] != "ended"]) == 1
        ),
        120,
        "scale back to one",
    )
    # A rolling update under load: the new job answers before the old one drains.
    with Load(platform.url, alice, "elastic", "slow", {"seconds": 0.05}, clients=1) as load:
        wait_until(lambda: load.calls > 10, 30, "calls to flow")
        assert c.deployments.update("elastic", worker=f"{SERVED}:EchoV2")["generation"] == 2
        c.deployments.wait_ready("elastic", replicas=1, generation=2, timeout=180)
        wait_until(
            lambda: not [
                r for r in c.deployments.get("elastic")["replicas"]
                if r["generation"] == 1 and r["state"] != "ended"
            ],
            120,
            "the old replica to drain",
        )  # fmt: skip
        before = load.results["2"]
        wait_until(lambda: load.results["2"] > before + 10, 60, "calls to version 2")
    assert load.failures == [], load.failures[:5]
    assert load.results["1"] > 0
    # To zero when idle, and a call then waits for a new Slurm job.
    c.deployments.scale("elastic", min_replicas=0)
    wait_until(
        lambda: all(r["state"] == "ended" for r in c.deployments.get("elastic")["replicas"]),
        120,
        "scale to zero",
    )
    assert c.models.call("elastic", "whoami")["version"] == 2
    live = [r for r in c.deployments.get("elastic")["replicas"] if r["state"] != "ended"]
    assert len(live) == 1 and c.jobs.get(live[0]["job_id"])["backend"] == "slurm"
    c.deployments.delete("elastic")

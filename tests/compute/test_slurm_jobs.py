"""Jobs through a real server on a real Slurm (deploy/slurm): the same API as the local backend,
with Slurm placing, limiting and accounting the jobs, and jobs running as their users."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster

FINAL = {"completed", "failed", "cancelled", "timeout"}
OnSlurm = tuple[Platform, dict[str, str]]


@pytest.fixture(scope="module")
def on_slurm(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Platform, dict[str, str]]]:
    platform = Platform(
        tmp_path_factory.mktemp("slurm") / "home",
        HAI_SCHEDULER_INTERVAL="0.5",
        HAI_ACCOUNTING_INTERVAL="1",
        **slurm_cluster.platform_env("platform"),
    ).start()
    keys = {name: platform.add_user_key(name, groups=("physics",)) for name in ("alice", "bob")}
    try:
        yield platform, keys
    finally:
        platform.stop()


def submit(h: httpx.Client, command: list[str], **body: Any) -> dict[str, Any]:
    r = h.post("/api/jobs", json={"command": command, **body})
    assert r.status_code == 201, r.text
    return r.json()


def wait_state(h: httpx.Client, job_id: int, states: set[str], timeout: float = 90) -> dict:
    def reached() -> dict | None:
        job = h.get(f"/api/jobs/{job_id}").json()
        return job if job["state"] in states else None

    return wait_until(reached, timeout, f"job {job_id} to reach {states}", interval=0.5)


def test_a_job_runs_as_its_user_and_is_accounted_from_sacct(on_slurm: OnSlurm) -> None:
    platform, keys = on_slurm
    with platform.http(keys["alice"]) as alice:
        job = submit(alice, ["bash", "-c", "echo user=$(id -un) job=$HAI_JOB_ID; pwd; sleep 1"])
        assert job["backend"] == "slurm" and job["external_id"], job
        done = wait_state(alice, job["id"], FINAL)
        assert done["state"] == "completed" and done["exit_code"] == 0, done
        out = alice.get(f"/api/jobs/{job['id']}/logs").text
        assert f"user=alice job={job['id']}" in out
        assert out.splitlines()[1].endswith("/storage/home/alice")
        start, end = (datetime.fromisoformat(done[k]) for k in ("started_at", "ended_at"))
        assert (end - start).total_seconds() >= 1

        def ledger_row() -> list[dict]:
            rows = alice.get("/api/usage/ledger").json()
            return [r for r in rows if r["ref"] == str(job["id"]) and r["resource"] == "cpu"]

        (row,) = wait_until(ledger_row, 30, "the job in the ledger")
        cpu_hours = Decimal(done["cpus"]) * Decimal((end - start).total_seconds()) / 3600
        assert abs(Decimal(row["quantity"]) - cpu_hours) <= Decimal("0.000001")


def test_failures_cancels_and_cards(on_slurm: OnSlurm) -> None:
    platform, keys = on_slurm
    with platform.http(keys["bob"]) as bob:
        failing = submit(bob, ["bash", "-c", "exit 3"])
        sleeper = submit(bob, ["sleep", "300"])
        cards = submit(
            bob, ["bash", "-c", "echo CUDA=$CUDA_VISIBLE_DEVICES"], partition="gpu", gpus="2"
        )
        done = wait_state(bob, failing["id"], FINAL)
        assert done["state"] == "failed" and done["exit_code"] == 3
        wait_state(bob, sleeper["id"], {"running"})
        assert bob.post(f"/api/jobs/{sleeper['id']}/cancel").status_code == 200
        assert wait_state(bob, sleeper["id"], FINAL)["state"] == "cancelled"
        assert wait_state(bob, cards["id"], FINAL)["state"] == "completed"
        visible = bob.get(f"/api/jobs/{cards['id']}/logs").text.strip()
        assert visible.startswith("CUDA=") and len(visible[5:].split(",")) == 2, visible


def test_qos_limits_are_refused_naming_the_limit(on_slurm: OnSlurm) -> None:
    platform, keys = on_slurm
    with platform.http(keys["alice"]) as alice:
        r = alice.post(
            "/api/jobs",
            json={"command": ["true"], "partition": "gpu", "qos": "gpudebug", "time": "1:00:00"},
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "qos_max_wall", r.text
        held = [submit(alice, ["sleep", "300"], partition="gpu", gpus="1") for _ in range(4)]
        r = alice.post("/api/jobs", json={"command": ["true"], "partition": "gpu", "gpus": "1"})
        error = r.json()["error"]
        assert r.status_code == 400 and error["code"] == "qos_max_submit_per_user", r.text
        assert "MaxSubmitPU" in error["message"] and "gpunormal" in error["message"]
        for job in held:
            alice.post(f"/api/jobs/{job['id']}/cancel")
        for job in held:
            assert wait_state(alice, job["id"], FINAL)["state"] == "cancelled"


def test_a_killed_server_finds_its_slurm_jobs_again(on_slurm: OnSlurm) -> None:
    platform, keys = on_slurm
    with platform.http(keys["alice"]) as alice:
        job = submit(alice, ["bash", "-c", "sleep 4; echo finished"])
        wait_state(alice, job["id"], {"running"})
    platform.stop(signal.SIGKILL)
    platform.start()
    with platform.http(keys["alice"]) as alice:
        done = wait_state(alice, job["id"], FINAL)
        assert done["state"] == "completed" and done["exit_code"] == 0
        assert alice.get(f"/api/jobs/{job['id']}/logs").text.strip() == "finished"


def _slurm_time_limit(external_id: str) -> str:
    """What Slurm itself holds as the job's limit (`scontrol show job`)."""
    done = subprocess.run(
        ["scontrol", "--oneliner", "show", "job", external_id], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    fields = dict(word.partition("=")[::2] for word in done.stdout.split() if "=" in word)
    return fields["TimeLimit"]


def test_a_job_is_extended_in_slurm_within_its_qos(on_slurm: OnSlurm) -> None:
    """Slurm takes any new limit from root (the platform): 200 minutes for a gpudebug job
    were accepted by hand, over its 15-minute MaxWall. So the platform holds the line."""
    platform, keys = on_slurm
    with platform.http(keys["alice"]) as alice, platform.http(keys["bob"]) as bob:
        # gpudebug: 15 minutes, 2 cards per user: the second job pends behind the first
        running = submit(
            alice, ["sleep", "300"], partition="gpu", qos="gpudebug", gpus="2", time="5"
        )
        pending = submit(
            alice, ["sleep", "300"], partition="gpu", qos="gpudebug", gpus="1", time="5"
        )
        wait_state(alice, running["id"], {"running"})
        r = alice.post(f"/api/jobs/{running['id']}/extend", json={"by": "5m"})
        assert r.status_code == 200 and r.json()["time_limit"] == 600, r.text
        assert _slurm_time_limit(running["external_id"]) == "00:10:00"
        r = alice.post(f"/api/jobs/{pending['id']}/extend", json={"by": "1:00"})
        assert r.status_code == 200 and r.json()["state"] == "pending", r.text
        assert _slurm_time_limit(pending["external_id"]) == "00:06:00"
        # beyond the QOS: refused by the platform, naming the limit; Slurm's limit unchanged
        r = alice.post(f"/api/jobs/{running['id']}/extend", json={"by": "10m"})
        error = r.json()["error"]
        assert r.status_code == 400 and error["code"] == "qos_max_wall", r.text
        assert error["message"] == (
            "The MaxWall of QOS 'gpudebug' allows at most 15 m; this job already has 10 m, "
            "so ask for at most 5 m more."
        )
        assert _slurm_time_limit(running["external_id"]) == "00:10:00"
        assert bob.post(f"/api/jobs/{running['id']}/extend", json={"by": "1m"}).status_code == 404
        for job in (running, pending):
            alice.post(f"/api/jobs/{job['id']}/cancel")
        for job in (running, pending):
            wait_state(alice, job["id"], FINAL)
        r = alice.post(f"/api/jobs/{running['id']}/extend", json={"by": "1m"})
        assert r.status_code == 409 and "already ended" in r.json()["error"]["message"]

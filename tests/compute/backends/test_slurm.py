"""The Slurm backend against a real Slurm (deploy/slurm, partitions and QOS of its policy.toml).

Root runs these (as CI does): jobs are submitted as the Unix users alice and bob, which
deploy/slurm/start.sh creates, so Slurm's per-user limits apply to them.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hakutaku.compute.backends.base import JobRequest, Observed, SubmitRefused
from hakutaku.compute.backends.slurm import SlurmBackend
from hakutaku.compute.policy import load_policy
from hakutaku.compute.states import JobState
from hakutaku.config import Settings
from tests.support.slurm import SlurmCluster

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def backend(slurm_cluster: SlurmCluster) -> SlurmBackend:
    return SlurmBackend(Settings(slurm_bin=None))


def make_request(cluster: SlurmCluster, command: list[str], **changes: object) -> JobRequest:
    job_id = next(_ids)
    job_dir = cluster.jobs_dir / f"job-{job_id}"
    request = JobRequest(
        id=job_id,
        user="alice",
        account=None,
        name=f"test-{job_id}",
        command=command,
        script=None,
        workdir=str(cluster.jobs_dir),
        env={},
        partition="cpu",
        qos="cpunormal",
        cpus=1,
        mem_mb=256,
        accelerator="cpu",
        accelerator_model=None,
        accelerators=0,
        time_limit=300,
        job_dir=str(job_dir),
        log_path=str(job_dir / "output.log"),
    )
    return replace(request, **changes)  # type: ignore[arg-type]


def wait_until(
    backend: SlurmBackend,
    external_id: str,
    done: Callable[[Observed], bool],
    timeout: float,
    what: str,
) -> Observed:
    deadline = time.monotonic() + timeout
    last: Observed | None = None
    while time.monotonic() < deadline:
        last = backend.poll([external_id]).get(external_id)
        if last is not None and done(last):
            return last
        time.sleep(0.5)
    raise AssertionError(f"job {external_id} not {what} within {timeout:.0f} s; last seen {last}")


def wait_final(backend: SlurmBackend, external_id: str, timeout: float = 60) -> Observed:
    return wait_until(backend, external_id, lambda o: o.state.final, timeout, "finished")


@pytest.fixture(scope="module", autouse=True)
def timeout_job(slurm_cluster: SlurmCluster, backend: SlurmBackend) -> Iterator[tuple[str, float]]:
    """A job that outlives its one-minute limit, submitted before the other tests so that its
    minute passes while they run; `test_time_limit_ends_in_timeout` checks it last."""
    request = make_request(slurm_cluster, ["sleep", "600"], time_limit=60)
    external_id = backend.submit(request)
    yield external_id, time.monotonic()
    backend.cancel(external_id)


def test_policy_file_is_the_platforms_format(slurm_cluster: SlurmCluster) -> None:
    policy = load_policy(slurm_cluster.policy_path)
    assert set(policy.partitions) == {"cpu", "gpu", "dcu"}
    assert policy.qos["gpunormal"].max_submit_pu == 4
    # and Slurm has the same QOS, made from that file
    shown = subprocess.run(
        ["sacctmgr", "-n", "-P", "show", "qos", "format=Name,MaxSubmitPU,MaxWall,MaxTRESPU"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "gpunormal|4|01:00:00|gres/gpu=4" in shown.splitlines()
    assert "gpudebug|8|00:15:00|gres/gpu=2" in shown.splitlines()


def test_job_runs_as_its_user_and_completes(
    slurm_cluster: SlurmCluster, backend: SlurmBackend
) -> None:
    command = ["bash", "-c", 'echo "hello from $(id -un) job=$HAI_JOB_ID home=$HOME x=$X"']
    request = make_request(slurm_cluster, command, env={"X": "a,b=c d", "SBATCH_QOS": "gpudebug"})
    external_id = backend.submit(request)
    assert external_id.isdigit()
    observed = wait_final(backend, external_id)
    assert observed.state is JobState.COMPLETED, observed
    assert observed.exit_code == 0
    assert observed.started_at is not None and observed.ended_at is not None
    assert observed.started_at.utcoffset() is not None  # aware, in UTC
    assert observed.started_at <= observed.ended_at
    assert abs(time.time() - observed.ended_at.timestamp()) < 120
    assert observed.node
    log = Path(request.log_path).read_text()
    assert f"hello from alice job={request.id} home=/home/alice x=a,b=c d" in log
    # Slurm's own accounting records the user and the QOS the platform asked for
    record = _sacct(external_id, "User,QOS,Partition,State")
    assert record == ["alice", "cpunormal", "cpu", "COMPLETED"]


def test_failing_job_reports_its_exit_code(
    slurm_cluster: SlurmCluster, backend: SlurmBackend
) -> None:
    request = make_request(slurm_cluster, [], script="echo before the failure\nexit 3\n")
    observed = wait_final(backend, backend.submit(request))
    assert observed.state is JobState.FAILED
    assert observed.exit_code == 3
    assert "3" in observed.reason
    assert "before the failure" in Path(request.log_path).read_text()


def test_cancel_a_running_job(slurm_cluster: SlurmCluster, backend: SlurmBackend) -> None:
    request = make_request(slurm_cluster, ["sleep", "300"])
    external_id = backend.submit(request)
    running = wait_until(backend, external_id, lambda o: o.state is JobState.RUNNING, 60, "running")
    assert running.started_at is not None and running.ended_at is None
    backend.cancel(external_id)
    observed = wait_final(backend, external_id, timeout=30)
    assert observed.state is JobState.CANCELLED
    assert observed.ended_at is not None
    backend.cancel(external_id)  # cancelling an ended job is harmless


def test_two_gpus_are_visible_to_the_job(
    slurm_cluster: SlurmCluster, backend: SlurmBackend
) -> None:
    request = make_request(
        slurm_cluster,
        ["bash", "-c", 'echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"'],
        partition="gpu",
        qos="gpunormal",
        accelerator="gpu",
        accelerator_model="a800",
        accelerators=2,
    )
    external_id = backend.submit(request)
    observed = wait_final(backend, external_id)
    assert observed.state is JobState.COMPLETED, observed
    match = re.search(r"CUDA_VISIBLE_DEVICES=(\S*)", Path(request.log_path).read_text())
    assert match is not None
    devices = match.group(1).split(",")
    assert len(devices) == 2 and len(set(devices)) == 2 and all(d.isdigit() for d in devices)
    assert "gres/gpu=2" in _sacct(external_id, "AllocTRES")[0]


def test_dcus_are_visible_through_hip_visible_devices(
    slurm_cluster: SlurmCluster, backend: SlurmBackend
) -> None:
    # Slurm sets no variable for gres `dcu`; the job script reads the indexes Slurm gave.
    request = make_request(
        slurm_cluster,
        ["bash", "-c", 'echo "HIP_VISIBLE_DEVICES=$HIP_VISIBLE_DEVICES"'],
        partition="dcu",
        qos="dcunormal",
        accelerator="dcu",
        accelerator_model="k100ai",
        accelerators=3,
    )
    observed = wait_final(backend, backend.submit(request))
    assert observed.state is JobState.COMPLETED, observed
    match = re.search(r"HIP_VISIBLE_DEVICES=(\S*)", Path(request.log_path).read_text())
    assert match is not None
    devices = match.group(1).split(",")
    assert len(set(devices)) == 3 and all(d.isdigit() for d in devices), devices


def test_max_submit_per_user_is_refused_naming_the_limit(
    slurm_cluster: SlurmCluster, backend: SlurmBackend
) -> None:
    def gpu_job(user: str) -> JobRequest:
        return make_request(
            slurm_cluster,
            ["sleep", "300"],
            user=user,
            partition="gpu",
            qos="gpunormal",
            accelerator="gpu",
            accelerators=1,
        )

    accepted: list[str] = []
    try:
        for _ in range(4):  # gpunormal: MaxSubmitPU=4, pending or running
            accepted.append(backend.submit(gpu_job("bob")))
        with pytest.raises(SubmitRefused) as refused:
            backend.submit(gpu_job("bob"))
        message = str(refused.value)
        assert "MaxSubmitPU=4" in message and "'gpunormal'" in message and "bob" in message
        assert "QOSMaxSubmitJobPerUserLimit" in message  # Slurm's own reason, kept
        # the limit is per user: alice may still submit to the same QOS
        accepted.append(backend.submit(gpu_job("alice")))
    finally:
        for external_id in accepted:
            backend.cancel(external_id)
    for external_id in accepted:
        assert wait_final(backend, external_id, timeout=30).state is JobState.CANCELLED


def test_max_wall_is_refused_naming_the_limit(
    slurm_cluster: SlurmCluster, backend: SlurmBackend
) -> None:
    request = make_request(
        slurm_cluster,
        ["true"],
        partition="gpu",
        qos="gpudebug",
        accelerator="gpu",
        accelerators=1,
        time_limit=30 * 60,
    )
    with pytest.raises(SubmitRefused) as refused:
        backend.submit(request)
    message = str(refused.value)
    assert "MaxWall=00:15:00" in message and "'gpudebug'" in message
    assert "00:30:00" in message  # what the job asked for
    assert "QOSMaxWallDurationPerJobLimit" in message


def test_accounts_are_passed_through(slurm_cluster: SlurmCluster, backend: SlurmBackend) -> None:
    request = make_request(slurm_cluster, ["true"], account="cms")
    external_id = backend.submit(request)
    assert wait_final(backend, external_id).state is JobState.COMPLETED
    assert _sacct(external_id, "Account") == ["cms"]
    with pytest.raises(SubmitRefused, match="no association of user bob with account 'cms'"):
        backend.submit(make_request(slurm_cluster, ["true"], user="bob", account="cms"))


def test_a_folder_the_user_cannot_reach_is_refused_before_slurm(
    slurm_cluster: SlurmCluster, backend: SlurmBackend, tmp_path: Path
) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    request = make_request(slurm_cluster, ["true"], workdir=str(closed))
    with pytest.raises(SubmitRefused, match=f"User alice cannot reach {closed}"):
        backend.submit(request)


def test_a_program_the_user_cannot_execute_is_refused_before_slurm(
    slurm_cluster: SlurmCluster, backend: SlurmBackend, tmp_path: Path
) -> None:
    # A virtual environment's python: a link, in an open folder, to an interpreter in a closed
    # one (as /root/.pyenv is). Slurm would run it and fail with exit code 126, saying nothing.
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    (closed / "python").write_text("#!/bin/sh\n")
    (closed / "python").chmod(0o755)
    venv_bin = slurm_cluster.jobs_dir / f"venv-{next(_ids)}"
    venv_bin.mkdir()
    (venv_bin / "python").symlink_to(closed / "python")
    request = make_request(slurm_cluster, [str(venv_bin / "python"), "-V"])
    with pytest.raises(SubmitRefused, match=f"User alice cannot execute {venv_bin}/python: "):
        backend.submit(request)
    # A program they may run is accepted (and runs).
    done = wait_final(backend, backend.submit(make_request(slurm_cluster, ["/bin/true"])))
    assert done.state is JobState.COMPLETED


@pytest.mark.parametrize("user", ["no-such-unix-user", "root", "mysql"])
def test_a_user_without_a_regular_unix_account_is_refused(
    slurm_cluster: SlurmCluster, backend: SlurmBackend, user: str
) -> None:
    # the server runs as root here: it must not run anyone's job as root or a system account
    with pytest.raises(SubmitRefused, match=f"no regular Unix user '{user}'"):
        backend.submit(make_request(slurm_cluster, ["id"], user=user))


def test_unknown_jobs_are_left_out(backend: SlurmBackend) -> None:
    assert backend.poll(["987654321"]) == {}
    assert backend.poll([]) == {}


def test_time_limit_ends_in_timeout(backend: SlurmBackend, timeout_job: tuple[str, float]) -> None:
    external_id, submitted = timeout_job
    # one minute of limit, then slurmctld's periodic check and KillWait=2 s
    left = max(10.0, 150 - (time.monotonic() - submitted))
    observed = wait_final(backend, external_id, timeout=left)
    assert observed.state is JobState.TIMEOUT
    assert observed.started_at is not None and observed.ended_at is not None
    ran = (observed.ended_at - observed.started_at).total_seconds()
    assert 55 <= ran <= 150
    assert "time limit" in observed.reason


def _sacct(external_id: str, fields: str) -> list[str]:
    """Slurm's accounting record of a job (waits for slurmdbd to have its end)."""
    deadline = time.monotonic() + 30
    while True:
        line = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-j", external_id, f"--format={fields},State"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        values = line.split("|")
        # slurmdbd's record fills in over a few seconds (QOS `Unknown`, no partition at first)
        complete = all(v and v != "Unknown" for v in values)
        if complete and values[-1] not in ("RUNNING", "PENDING"):
            return values[:-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"sacct has no finished record of job {external_id}: {line!r}")
        time.sleep(0.5)

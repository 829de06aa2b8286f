"""The `slurm` profile on the real Slurm (deploy/slurm) through a real platform: a campaign's
block is the user's platform job (partition, QOS, account), held to their limits and
accounted in the ledger; tasks run in it as the user, and a cancelled one frees its slot.

The block job runs as the platform user (alice: the platform submits it with her uid) while
the steering process is this test, which is root (Slurm's daemons need it) and whose Python is
in /root, closed to alice. So, unlike a user's campaign on a login node: the workers use
Debian's Python of the same version with this one's packages (SlurmOptions.python), the
interchange is not encrypted (its keys are private to root) and the campaign's folders are
open to alice (umask 0 while it lives).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from hakutaku.workflows import Campaign, SlurmOptions, TaskFailed
from hakutaku.workflows.platform_provider import PlatformProvider
from hakutaku.workflows.proctree import tree_pids
from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster
from tests.workflows import tasks
from tests.workflows.conftest import wait_for

USER = "alice"
WORKER_PYTHON = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
CPU_BLOCK = {"partition": "cpu", "qos": "cpunormal", "account": "physics"}


@contextmanager
def shared_umask() -> Iterator[None]:
    """Folders and files the campaign creates are writable by the block's user too."""
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def on_slurm(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Platform, str, Path]]:
    if not Path(WORKER_PYTHON).exists():
        pytest.skip(f"{WORKER_PYTHON} (the block user's Python) is not installed")
    platform = Platform(
        tmp_path_factory.mktemp("wf-slurm") / "home",
        HAI_SCHEDULER_INTERVAL="0.5",
        HAI_ACCOUNTING_INTERVAL="1",
        **slurm_cluster.platform_env("workflows"),
    ).start()
    key = platform.add_user_key(USER, groups=("physics",))
    # The user's own folder for campaigns, on storage the block jobs reach (mode 1777 above).
    folder = slurm_cluster.jobs_dir / f"campaigns-{os.getpid()}"
    folder.mkdir()
    folder.chmod(0o777)
    try:
        yield platform, key, folder
    finally:
        platform.stop()


def campaign_on_slurm(
    on_slurm: tuple[Platform, str, Path], name: str, pools: int = 1, **options: Any
) -> Campaign:
    platform, key, folder = on_slurm
    return Campaign(
        name,
        pools={"default": pools},
        profile="slurm",
        run_dir=folder / name,
        database_url=f"sqlite:///{folder / name}.db",
        slurm=SlurmOptions(
            url=platform.url,
            api_key=key,
            python=WORKER_PYTHON,
            encrypted=False,
            **{"walltime": "0:10:00", **options},
        ),
    )


def block_jobs(h: httpx.Client, name: str) -> list[dict[str, Any]]:
    return [j for j in h.get("/api/jobs").json() if j["name"].startswith(f"workflow-{name}:")]


def ranks_of(task_dir: Path) -> list[int]:
    found = []
    for pid in tree_pids(task_dir):
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).name() == "sleep":
                found.append(pid)
    return found


def test_an_mpi_task_runs_in_the_block_and_a_running_one_is_cancelled(
    on_slurm: tuple[Platform, str, Path],
) -> None:
    """MPICH's mpiexec inside the user's block job: both ranks run in the block's Slurm job;
    a running MPI task's launcher and ranks all go on cancel and its slot is reused. (First in
    the module: its 2-CPU block must not wait for the module campaign's block to end.)"""
    if shutil.which("mpiexec") is None:
        pytest.skip("mpiexec is not installed (deploy/dev/install-services.sh installs MPICH)")
    with shared_umask(), campaign_on_slurm(on_slurm, "mpi", pools=2, **CPU_BLOCK) as c:
        probe = c.run(
            ["sh", "-c", 'echo "$PMI_RANK $PMI_SIZE $SLURM_JOB_ID $(id -un)"'], cpus=2, mpi_ranks=2
        )
        assert probe.result(timeout=180) == 0
        lines = sorted((probe.task_dir / "stdout.txt").read_text().split("\n")[:-1])
        assert [line.split()[:2] for line in lines] == [["0", "2"], ["1", "2"]]
        assert {tuple(line.split()[2:]) for line in lines} == {(lines[0].split()[2], USER)}
        running = c.run(["sleep", "60"], cpus=2, mpi_ranks=2)
        # the launcher, its proxy and the two ranks, all in the task's tree
        wait_for(lambda: len(ranks_of(running.task_dir)) == 2, 60, "the MPI task's 2 ranks")
        pids = tree_pids(running.task_dir)
        assert len(pids) >= 4 and {psutil.Process(p).username() for p in pids} == {USER}
        queued = c.submit(tasks.add, 1, 1, cpus=2)
        assert running.cancel()
        assert queued.result(timeout=30) == 2  # it ran in the freed slot of the same block
        wait_for(lambda: not any(alive(p) for p in pids), 10, "the launcher and ranks to go")
        assert running.state == "cancelled"


@pytest.fixture(scope="module")
def campaign(on_slurm: tuple[Platform, str, Path]) -> Iterator[Campaign]:
    with shared_umask():
        c = campaign_on_slurm(on_slurm, "onslurm", **CPU_BLOCK)
        try:
            yield c
        finally:
            c.close(wait=False)


def test_tasks_run_in_the_users_block_job(
    campaign: Campaign, on_slurm: tuple[Platform, str, Path]
) -> None:
    platform, key, _ = on_slurm
    assert campaign.submit(tasks.add, 2, 3).result(timeout=120) == 5
    who = campaign.run(["sh", "-c", "id -un; echo $SLURM_JOB_ID"])
    assert who.result(timeout=60) == 0
    user, slurm_job = (who.task_dir / "stdout.txt").read_text().split()
    assert user == USER and slurm_job.isdigit()
    with platform.http(key) as alice:
        (block,) = block_jobs(alice, "onslurm")
    assert block["state"] == "running" and block["backend"] == "slurm", block
    assert block["external_id"] == slurm_job  # the task ran inside the block's Slurm job
    assert (block["user"], block["partition"], block["qos"]) == (USER, "cpu", "cpunormal")
    assert block["account"] == "physics" and block["cpus"] == 1


def test_cancel_a_running_task_on_slurm_frees_its_slot(campaign: Campaign) -> None:
    running = campaign.submit(tasks.sleep_tree, 60, 2)
    wait_for(lambda: len(tree_pids(running.task_dir)) >= 3, 60, "the task's tree to start")
    pids = tree_pids(running.task_dir)
    assert {psutil.Process(p).username() for p in pids} == {USER}
    queued = campaign.submit(tasks.add, 1, 1)
    # the campaign's one slot is taken: it waits, prefetched behind the running task
    assert not queued.done() and not tree_pids(queued.task_dir)
    assert running.cancel()
    assert queued.result(timeout=30) == 2  # it ran in the freed slot of the same block

    def gone() -> bool:
        return not any(
            psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids
        )

    wait_for(gone, 10, "the cancelled task's processes to be gone")
    assert running.state == "cancelled"


def test_a_block_over_the_users_qos_is_refused_naming_the_limit(
    on_slurm: tuple[Platform, str, Path],
) -> None:
    platform, key, _ = on_slurm
    with shared_umask():
        c = campaign_on_slurm(
            on_slurm, "overqos", partition="gpu", qos="gpudebug", walltime="1:00:00"
        )
        try:
            task = c.submit(tasks.noop)
            with pytest.raises(TaskFailed, match="MaxWall of QOS 'gpudebug'") as refused:
                task.result(timeout=60)
            assert "qos_max_wall" in str(refused.value)
            provider = c.provider
            assert isinstance(provider, PlatformProvider) and provider.refusals
        finally:
            c.close(wait=False)
    with platform.http(key) as alice:
        assert block_jobs(alice, "overqos") == []


def test_a_closed_campaign_leaves_no_job_and_its_block_is_in_the_ledger(
    on_slurm: tuple[Platform, str, Path],
) -> None:
    platform, key, _ = on_slurm
    with shared_umask(), campaign_on_slurm(on_slurm, "ledger", **CPU_BLOCK) as c:
        assert c.submit(tasks.add, 20, 22).result(timeout=120) == 42
    with platform.http(key) as alice:
        (block,) = block_jobs(alice, "ledger")

        def ended() -> dict[str, Any] | None:
            job = alice.get(f"/api/jobs/{block['id']}").json()
            return job if job["state"] in {"cancelled", "completed"} else None

        wait_until(ended, 60, "the block job to end with its campaign", interval=0.5)

        def ledger_rows() -> list[dict[str, Any]]:
            rows = alice.get("/api/usage/ledger").json()
            return [r for r in rows if r["ref"] == str(block["id"]) and r["resource"] == "cpu"]

        (row,) = wait_until(ledger_rows, 30, "the block job in the ledger", interval=0.5)
        assert row["user"] == USER and float(row["quantity"]) > 0

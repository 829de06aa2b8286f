"""One Slurm poller per database: of several server replicas, one follows the jobs with
squeue/sacct (under the lease `scheduler:slurm`), the others only read what it records; when it
is killed another takes over within the lease's time to live plus a tick.

The fast tests run two schedulers on one SQLite file (no job is active, so nothing asks Slurm).
The replica tests run two real `hai serve` processes on one PostgreSQL and the real Slurm, each
with its own HAI_SLURM_BIN: Slurm's tools, with squeue and sacct behind a script that notes
which replica called them before it runs the real one."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hakutaku.compute.scheduler import LEASE_MIN_TICKS, Scheduler
from hakutaku.compute.service import ComputeService
from hakutaku.config import Settings
from hakutaku.db.lease import read_lease
from hakutaku.db.migrate import upgrade
from hakutaku.db.models import Job, User
from hakutaku.db.session import Database
from tests.support.postgres import fresh_database
from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster
from tests.support.slurm_replicas import EVERY_CALL, ReplicaPair, two_replicas

FINAL = {"completed", "failed", "cancelled", "timeout"}
INTERVAL = 0.5
TTL = 5.0  # the replicas' HAI_SCHEDULER_LEASE_TTL: a leader may stall 2.5 s and keep it
# What the takeover may take beyond TTL + one tick: a tick's own time on a busy machine.
SLACK = 3.0


# -- two schedulers on one SQLite database -----------------------------------------------------


def _schedulers(
    tmp_path: Path, n: int, backend: str, ttl: float
) -> tuple[Database, list[Scheduler]]:
    settings = Settings(
        home=tmp_path, compute_backend=backend, scheduler_lease_ttl=ttl, demo_workers=False
    )
    upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    return db, [Scheduler(ComputeService(settings), db, 0.1) for _ in range(n)]


def test_one_scheduler_per_database_follows_slurm(tmp_path: Path) -> None:
    db, (a, b, c) = _schedulers(tmp_path, 3, "slurm", ttl=1.0)
    try:
        for scheduler in (a, b, c):
            scheduler.tick()
        assert [sc.is_poller for sc in (a, b, c)] == [True, False, False]
        status = a.polling()
        assert status["polls"] and status["lease"] == "scheduler:slurm" and status["term"] == 1
        assert not b.polling()["polls"] and b.polling()["holder"] != status["holder"]
        with db.session() as s:
            lease = read_lease(s, "scheduler:slurm")
        assert a.lease is not None and lease is not None and lease.holder == a.lease.id

        asyncio.run(a.stop())  # a graceful stop hands the lease back: b follows at once
        b.tick()
        c.tick()
        assert (b.is_poller, c.is_poller) == (True, False)

        # b dies without a word (it ticks no more): c takes over once the lease expires.
        began = time.monotonic()
        while not c.is_poller:
            c.tick()
            time.sleep(0.1)
        waited = time.monotonic() - began
        assert 0.4 < waited < 1.0 + 1.0, waited
        assert c.polling()["term"] == 3
    finally:
        db.dispose()


def test_the_local_backend_takes_no_lease(tmp_path: Path) -> None:
    """Local jobs are processes on the replica's own machine: every replica follows its own."""
    db, (a, b) = _schedulers(tmp_path, 2, "local", ttl=1.0)
    try:
        a.tick()
        b.tick()
        assert a.lease is None and a.is_poller and b.is_poller
        assert a.polling() == {
            "backend": "local",
            "polls": True,
            "lease": None,
            "holder": None,
            "term": None,
            "ttl": None,
        }
        with db.session() as s:
            assert read_lease(s, "scheduler:local") is None
    finally:
        db.dispose()


def test_a_lease_shorter_than_a_few_ticks_is_raised(tmp_path: Path) -> None:
    db, (a,) = _schedulers(tmp_path, 1, "slurm", ttl=0.05)
    try:
        assert a.lease is not None and a.lease.ttl == pytest.approx(LEASE_MIN_TICKS * 0.1)
    finally:
        db.dispose()


# -- a poller that stalls past its lease, on the real Slurm ---------------------------------------


def _slurm(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_a_poller_that_lost_its_lease_while_polling_writes_nothing(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    """The race the lease's term closes: A's squeue says `running`, then A stalls past its
    lease; B takes over and records the job cancelled; A's stale view must not undo that."""
    real = shutil.which("squeue") or "/usr/bin/squeue"
    answered = tmp_path / "answered"
    stalling = tmp_path / "bin-stalling"
    stalling.mkdir()
    for tool in ("sbatch", "scancel", "sacctmgr", "scontrol", "sacct"):
        (stalling / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    (stalling / "squeue").write_text(
        "#!/bin/bash\n"
        f'out=$({shlex.quote(real)} "$@"); rc=$?\n'
        f"touch {shlex.quote(str(answered))}; sleep 4\n"
        'printf "%s\\n" "$out"; exit $rc\n'
    )
    (stalling / "squeue").chmod(0o755)
    url = f"sqlite:///{tmp_path / 'hai.db'}"
    upgrade(url)
    db = Database(url)
    common: dict[str, Any] = {"database_url": url, "compute_backend": "slurm"}
    a = Scheduler(
        ComputeService(Settings(home=tmp_path / "a", slurm_bin=stalling, **common)),
        db,
        0.1,
        lease_ttl=1.0,
    )
    b = Scheduler(ComputeService(Settings(home=tmp_path / "b", **common)), db, 0.1, lease_ttl=1.0)
    external_id = _slurm(
        "sbatch",
        "--parsable",
        "--account=physics",
        "--partition=cpu",
        "--qos=cpunormal",
        "--time=5",
        "--output=/dev/null",
        "--chdir=/tmp",
        "--wrap",
        "sleep 120",
    ).split(";")[0]
    try:
        wait_until(
            lambda: (
                _slurm("squeue", "--noheader", f"--jobs={external_id}", "--format=%T") == "RUNNING"
            ),
            60,
            f"Slurm job {external_id} to run",
        )
        with db.session() as s:
            user = User(name="alice")
            s.add(user)
            s.flush()
            job = Job(
                user_id=user.id,
                partition="cpu",
                qos="cpunormal",
                time_limit=300,
                backend="slurm",
                state="pending",
                external_id=external_id,
            )
            s.add(job)
        assert a.lease is not None and a.lease.hold()

        stale = threading.Thread(target=a.tick)
        stale.start()
        wait_until(answered.exists, 30, "A's squeue to answer")  # A has seen it running
        _slurm("scancel", external_id)

        def recorded_by_b() -> str | None:
            b.tick()
            with db.session() as s:
                row = s.get(Job, job.id, populate_existing=True)
            return "cancelled" if row is not None and row.state == "cancelled" else None

        wait_until(recorded_by_b, 30, "B to take over and record the cancel", interval=0.1)
        assert stale.is_alive(), "A's poll ended before B took over: nothing was tested"
        stale.join(30)
        with db.session() as s:
            after = s.get(Job, job.id, populate_existing=True)
            assert after is not None
            assert after.state == "cancelled", after.state  # not A's stale `running`
        b.tick()
        assert b.is_poller and not a.is_poller
    finally:
        subprocess.run(["scancel", external_id], capture_output=True, timeout=60)
        db.dispose()


# -- two real replicas on PostgreSQL and Slurm ---------------------------------------------------


@pytest.fixture(scope="module")
def replicas(
    slurm_cluster: SlurmCluster, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReplicaPair]:
    with two_replicas(
        slurm_cluster,
        fresh_database(postgres_url, "poller"),
        tmp_path_factory.mktemp("poller"),
        {"squeue": EVERY_CALL, "sacct": EVERY_CALL},
        HAI_SCHEDULER_INTERVAL=str(INTERVAL),
        HAI_SCHEDULER_LEASE_TTL=str(TTL),
        HAI_ACCOUNTING_INTERVAL="5",
    ) as pair:
        yield pair


def _holder_pid(r: ReplicaPair) -> int | None:
    return r.lease_holder_pid("scheduler:slurm")


def _submit(p: Platform, key: str, command: list[str]) -> dict[str, Any]:
    with p.http(key) as h:
        r = h.post("/api/jobs", json={"command": command})
        assert r.status_code == 201, r.text
        job: dict[str, Any] = r.json()
        return job


def _job(p: Platform, key: str, job_id: int) -> dict[str, Any]:
    with p.http(key) as h:
        r = h.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        return job


def _wait_state(
    p: Platform, key: str, job_id: int, states: set[str], timeout: float = 90
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        job = _job(p, key, job_id)
        return job if job["state"] in states else None

    job: dict[str, Any] = wait_until(reached, timeout, f"job {job_id} to reach {states}", 0.25)
    return job


def test_one_replica_polls_and_both_report_the_same_states(replicas: ReplicaPair) -> None:
    r = replicas
    began = time.time()
    jobs = [
        _submit(r.one, r.key, ["bash", "-c", "sleep 2; echo one"]),
        _submit(r.two, r.key, ["bash", "-c", "sleep 2; echo two"]),
        _submit(r.two, r.key, ["bash", "-c", "exit 3"]),
        _submit(r.one, r.key, ["bash", "-c", "sleep 1"]),
    ]
    # Each replica sees the jobs the other submitted, and their states, from the database.
    done = {job["id"]: _wait_state(r.two, r.key, job["id"], FINAL) for job in jobs}
    for job_id, seen_by_two in done.items():
        seen_by_one = _wait_state(r.one, r.key, job_id, FINAL)
        for field in ("state", "exit_code", "started_at", "ended_at", "node", "external_id"):
            assert seen_by_one[field] == seen_by_two[field], (field, seen_by_one, seen_by_two)
    states = [done[job["id"]]["state"] for job in jobs]
    assert states == ["completed", "completed", "failed", "completed"], states
    assert done[jobs[2]["id"]]["exit_code"] == 3
    with r.one.http(r.key) as h1, r.two.http(r.key) as h2:
        listed = [[(j["id"], j["state"]) for j in h.get("/api/jobs").json()] for h in (h1, h2)]
    assert listed[0] == listed[1]

    # Exactly one replica asked Slurm about them; the one that started first holds the lease.
    assert len(r.calls_by("one", began)) > 0
    assert r.calls_by("two") == []
    assert _holder_pid(r) == r.one.server.pid  # type: ignore[union-attr]
    # /healthz says the same, each replica of itself.
    health = [httpx.get(f"{p.url}/healthz", timeout=5).json()["scheduler"] for p in (r.one, r.two)]
    assert [(h["backend"], h["lease"], h["polls"]) for h in health] == [
        ("slurm", "scheduler:slurm", True),
        ("slurm", "scheduler:slurm", False),
    ]


def test_a_killed_poller_is_replaced_within_the_bound(replicas: ReplicaPair) -> None:
    r = replicas
    assert _holder_pid(r) == r.one.server.pid  # type: ignore[union-attr]
    # A job that outlives the poller: the survivor must follow it, and a new one, to the end.
    long = _submit(r.one, r.key, ["sleep", "120"])
    _wait_state(r.two, r.key, long["id"], {"running"})

    r.one.stop(signal.SIGKILL)
    killed = time.time()
    first = wait_until(
        lambda: r.calls_by("two", killed), TTL + INTERVAL + SLACK + 5, "replica two to poll"
    )[0]
    takeover = first - killed
    print(f"takeover after SIGKILL: {takeover:.2f} s (TTL {TTL} s, tick {INTERVAL} s)")
    assert takeover <= TTL + INTERVAL + SLACK, takeover
    assert _holder_pid(r) == r.two.server.pid  # type: ignore[union-attr]

    after = _submit(r.two, r.key, ["bash", "-c", "echo after"])
    done = _wait_state(r.two, r.key, after["id"], FINAL)
    assert done["state"] == "completed" and done["exit_code"] == 0, done
    with r.two.http(r.key) as h:
        assert h.get(f"/api/jobs/{after['id']}/logs").text.strip() == "after"
        assert h.post(f"/api/jobs/{long['id']}/cancel").status_code == 200
    assert _wait_state(r.two, r.key, long["id"], FINAL)["state"] == "cancelled"

    # The killed replica comes back as a reader: replica two keeps the lease.
    restarted = time.time()
    r.one.start()
    again = _submit(r.one, r.key, ["bash", "-c", "sleep 1"])
    assert _wait_state(r.one, r.key, again["id"], FINAL)["state"] == "completed"
    assert r.calls_by("one", restarted) == []

    # A graceful stop hands the lease back: replica one follows from its next tick, well
    # before the lease would have expired.
    pending = _submit(r.one, r.key, ["bash", "-c", "sleep 3"])
    _wait_state(r.one, r.key, pending["id"], {"running"})
    stopping = time.time()
    r.two.stop(signal.SIGTERM)
    handed = wait_until(lambda: r.calls_by("one", stopping), TTL + SLACK, "replica one to poll")
    print(f"takeover after SIGTERM (shutdown included): {handed[0] - stopping:.2f} s")
    assert handed[0] - stopping < TTL, handed[0] - stopping
    assert _wait_state(r.one, r.key, pending["id"], FINAL)["state"] == "completed"
    assert _holder_pid(r) == r.one.server.pid  # type: ignore[union-attr]

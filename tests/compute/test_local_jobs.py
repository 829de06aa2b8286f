"""Jobs on the local backend, through a real server: run, fail, cancel, time out, limits,
accelerator visibility, priority order, and a server killed while jobs run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hakutaku.compute.backends.base import JobRequest
from hakutaku.compute.backends.local import LocalBackend
from hakutaku.compute.states import JobState
from tests.support.processes import Platform, wait_until

FAKE_CARDS = "gpu:a800:0,1,2,3;dcu:k100ai:0,1;npu:ascend910b:0,1"
FINAL = {"completed", "failed", "cancelled", "timeout"}
SHOW_CARDS = (
    "echo CUDA=$CUDA_VISIBLE_DEVICES HIP=$HIP_VISIBLE_DEVICES ASCEND=$ASCEND_RT_VISIBLE_DEVICES"
)
SMALL_POLICY = """
default_partition = "cpu"
[partitions.cpu]
qos = ["normal", "debug", "tiny"]
default_qos = "normal"
max_time = "1-00:00:00"
[partitions.gpu]
accelerator = "gpu"
models = ["a800"]
qos = ["normal", "debug"]
default_qos = "normal"
[qos.normal]
priority = 0
max_wall = "1-00:00:00"
[qos.debug]
priority = 20
max_wall = "0:15:00"
max_submit_pu = 16
[qos.tiny]
max_submit_pu = 2
max_tres_pu = "cpu=4,mem=8G"
"""


def start_platform(home: Path, **env: str) -> Platform:
    settings = {
        "HAI_SCHEDULER_INTERVAL": "0.2",
        "HAI_ACCELERATORS": FAKE_CARDS,
        "HAI_LOCAL_CPUS": "64",
        "HAI_LOCAL_MEM_MB": "65536",
        "HAI_DEMO_WORKERS": "false",
        **env,
    }
    policy = home.parent / f"{home.name}-policy.toml"
    policy.write_text(SMALL_POLICY)
    return Platform(home, HAI_COMPUTE_POLICY=str(policy), **settings).start()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = start_platform(tmp_path_factory.mktemp("compute") / "home")
    try:
        yield platform
    finally:
        platform.stop()


def submit(h: httpx.Client, command: list[str] | None = None, **body: Any) -> dict[str, Any]:
    r = h.post("/api/jobs", json={"command": command or [], **body})
    assert r.status_code == 201, r.text
    return r.json()


def refused(h: httpx.Client, **body: Any) -> dict[str, Any]:
    r = h.post("/api/jobs", json=body)
    assert r.status_code in (400, 403), r.text
    return r.json()["error"]


def wait_state(h: httpx.Client, job_id: int, states: set[str], timeout: float = 30) -> dict:
    def reached() -> dict | None:
        job = h.get(f"/api/jobs/{job_id}").json()
        return job if job["state"] in states else None

    return wait_until(reached, timeout, f"job {job_id} to reach {states}")


def logs(h: httpx.Client, job_id: int) -> str:
    return h.get(f"/api/jobs/{job_id}/logs").text


def test_a_job_runs_to_completion_with_its_output_and_times(lab: Platform) -> None:
    with lab.http() as h:
        job = submit(h, ["bash", "-c", "echo hello from $HAI_JOB_ID; pwd"], name="hello")
        assert job["state"] == "pending" and job["partition"] == "cpu" and job["qos"] == "normal"
        done = wait_state(h, job["id"], FINAL)
    assert done["state"] == "completed" and done["exit_code"] == 0
    assert done["started_at"] and done["ended_at"] and done["ended_at"] >= done["started_at"]
    with lab.http() as h:
        text = logs(h, job["id"])
    assert f"hello from {job['id']}" in text
    assert str(lab.home / "storage" / "home" / "admin") in text  # default workdir: the home


def test_a_failing_job_is_failed_with_its_exit_code(lab: Platform) -> None:
    with lab.http() as h:
        job = submit(h, ["bash", "-c", "echo about to fail >&2; exit 3"])
        done = wait_state(h, job["id"], FINAL)
        assert done["state"] == "failed" and done["exit_code"] == 3
        assert "exit" in done["reason"] and "about to fail" in logs(h, job["id"])
        missing = submit(h, ["no-such-program-hai"])
        done = wait_state(h, missing["id"], FINAL)
        assert done["state"] == "failed" and done["exit_code"] == 127
        assert "cannot start 'no-such-program-hai'" in logs(h, missing["id"])


def test_cancel_stops_the_job_and_everything_it_started(lab: Platform, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    with lab.http() as h:
        job = submit(h, ["bash", "-c", f"sleep 300 & echo $! > {pidfile}; wait"])
        wait_state(h, job["id"], {"running"})
        wait_until(pidfile.exists, 10, "the job's child to start")
        child = int(pidfile.read_text())
        r = h.post(f"/api/jobs/{job['id']}/cancel")
        assert r.status_code == 200, r.text
        done = wait_state(h, job["id"], FINAL)
        assert done["state"] == "cancelled"
        wait_until(lambda: not _alive(child), 10, "the job's background child to be stopped")
        again = h.post(f"/api/jobs/{job['id']}/cancel")
        assert again.status_code == 409 and "already ended" in again.json()["error"]["message"]


def test_a_cancel_as_the_job_starts_always_cancels_it(lab: Platform) -> None:
    # A cancel racing the scheduler's start: in the queue, claimed, runner starting or
    # started. Each must end the job as cancelled, soon, and never as "lost" or completed.
    with lab.http() as h:
        jobs = []
        for i in range(12):
            job = submit(h, ["sleep", "30"])
            if i % 3:
                time.sleep(0.01 * i)  # land at different points of the start
            r = h.post(f"/api/jobs/{job['id']}/cancel")
            assert r.status_code in (200, 409), r.text
            jobs.append(job["id"])
        ended = [wait_state(h, job_id, FINAL, timeout=30) for job_id in jobs]
    assert [e["state"] for e in ended] == ["cancelled"] * len(jobs), [
        (e["state"], e["reason"]) for e in ended
    ]
    assert all("lost" not in e["reason"] for e in ended)


def test_a_job_over_its_time_limit_is_stopped_as_timeout(lab: Platform) -> None:
    with lab.http() as h:
        job = submit(h, ["sleep", "60"], time="0:02")  # Slurm's M:S: two seconds
        done = wait_state(h, job["id"], FINAL, timeout=30)
    assert done["state"] == "timeout" and done["time_limit"] == 2


def test_a_job_over_its_memory_is_stopped_and_one_within_it_is_not(lab: Platform) -> None:
    # the memory is held by a child of the job's shell: the whole session counts
    grow = (
        f'{sys.executable} -c \'import time; b = bytearray(b"x") * (300 << 20); '
        "time.sleep(60)' & wait"
    )
    fits = f"{sys.executable} -c 'b = bytearray(b\"x\") * (50 << 20); print(len(b) >> 20)'"
    with lab.http() as h:
        hungry = submit(h, ["bash", "-c", grow], mem="128M")
        modest = submit(h, ["bash", "-c", fits], mem="256M")
        done = wait_state(h, hungry["id"], FINAL, timeout=30)
        fine = wait_state(h, modest["id"], FINAL, timeout=30)
        assert done["state"] == "failed", done
        assert "out of memory" in done["reason"] and "128 MiB" in done["reason"]
        assert "out of memory" in logs(h, hungry["id"])
        assert fine["state"] == "completed" and logs(h, modest["id"]).strip() == "50"


def test_limits_are_refused_at_submission_naming_the_limit(lab: Platform) -> None:
    with lab.http() as h:
        error = refused(h, command=["true"], qos="debug", time="1:00:00")
        assert error["code"] == "qos_max_wall" and "00:15:00" in error["message"]
        error = refused(h, command=["true"], time="2-00:00:00")
        assert error["code"] == "partition_time_limit" and "'cpu'" in error["message"]
        error = refused(h, command=["true"], qos="tiny", cpus=8)
        assert error["code"] == "qos_max_tres_per_user" and "cpu=4" in error["message"]
        held = [submit(h, ["sleep", "30"], qos="tiny") for _ in range(2)]
        error = refused(h, command=["true"], qos="tiny")
        assert error["code"] == "qos_max_submit_per_user"
        assert "MaxSubmitPU" in error["message"] and "allows 2" in error["message"]
        for job in held:
            h.post(f"/api/jobs/{job['id']}/cancel")
        for job in held:
            wait_state(h, job["id"], FINAL)
        submit(h, ["true"], qos="tiny")  # room again once they ended

        assert "No partition 'nope'" in refused(h, command=["true"], partition="nope")["message"]
        assert "has no accelerators" in refused(h, command=["true"], gpus="1")["message"]
        error = refused(h, command=["true"], partition="gpu", gpus="l40:1")
        assert "no 'l40' cards" in error["message"]
        error = refused(h, command=["true"], partition="gpu", gpus="8")
        assert error["code"] == "exceeds_machine" and "has 4" in error["message"]
        assert "Nothing to run" in refused(h)["message"]
        assert "Cannot read the memory" in refused(h, command=["true"], mem="lots")["message"]
        error = refused(h, command=["true"], account="x")
        assert error["message"].startswith("No group 'x' to bill")


def test_jobs_see_only_the_cards_they_were_given(lab: Platform) -> None:
    show = SHOW_CARDS
    with lab.http() as h:
        first = submit(h, ["bash", "-c", f"{show}; sleep 2"], partition="gpu", gpus="a800:2")
        second = submit(h, ["bash", "-c", f"{show}; sleep 2"], partition="gpu", gpus="2")
        third = submit(h, ["bash", "-c", show], partition="gpu", gpus="1")
        none = submit(h, ["bash", "-c", show])
        first_done = wait_state(h, first["id"], FINAL)
        second_done = wait_state(h, second["id"], FINAL)
        third_done = wait_state(h, third["id"], FINAL)
        wait_state(h, none["id"], FINAL)
        outputs = {j["id"]: logs(h, j["id"]).strip() for j in (first, second, third, none)}
    assert outputs[first["id"]] == "CUDA=0,1 HIP= ASCEND="
    assert outputs[second["id"]] == "CUDA=2,3 HIP= ASCEND="
    assert outputs[none["id"]] == "CUDA= HIP= ASCEND="  # no cards asked, none visible
    # all four cards were busy, so the third waited for one of the first two to end
    assert third_done["started_at"] >= min(first_done["ended_at"], second_done["ended_at"])
    assert outputs[third["id"]] in ("CUDA=0 HIP= ASCEND=", "CUDA=2 HIP= ASCEND=")
    assert first_done["devices"] == ["gpu:0", "gpu:1"]


def test_dcu_and_npu_jobs_get_their_vendors_variables(tmp_path: Path) -> None:
    policy_extra = (
        '\n[partitions.dcu]\naccelerator = "dcu"\nqos = ["normal"]\n'
        '[partitions.npu]\naccelerator = "npu"\nqos = ["normal"]\n'
    )
    home = tmp_path / "home"
    (tmp_path / "home-policy.toml").write_text(SMALL_POLICY + policy_extra)
    platform = Platform(
        home,
        HAI_COMPUTE_POLICY=str(tmp_path / "home-policy.toml"),
        HAI_ACCELERATORS=FAKE_CARDS,
        HAI_SCHEDULER_INTERVAL="0.2",
        HAI_DEMO_WORKERS="false",
    ).start()
    show = SHOW_CARDS
    try:
        with platform.http() as h:
            dcu = submit(h, ["bash", "-c", show], partition="dcu", gpus="k100ai:2")
            npu = submit(h, ["bash", "-c", show], partition="npu", gpus="1")
            for job in (dcu, npu):
                assert wait_state(h, job["id"], FINAL)["state"] == "completed"
            assert logs(h, dcu["id"]).strip() == "CUDA= HIP=0,1 ASCEND="
            assert logs(h, npu["id"]).strip() == "CUDA= HIP= ASCEND=0"
    finally:
        platform.stop()


def test_pending_jobs_start_by_qos_priority_then_age(tmp_path: Path) -> None:
    platform = start_platform(tmp_path / "home", HAI_LOCAL_CPUS="1")
    try:
        with platform.http() as h:
            blocker = submit(h, ["sleep", "2"])
            wait_state(h, blocker["id"], {"running"})
            older_normal = submit(h, ["true"])
            newer_normal = submit(h, ["true"])
            debug = submit(h, ["true"], qos="debug")

            def with_reason() -> dict[str, Any] | None:
                job: dict[str, Any] = h.get(f"/api/jobs/{older_normal['id']}").json()
                return job if job["reason"] else None

            # the scheduler names the reason at its next tick, while the blocker still runs
            waiting = wait_until(with_reason, 1.5, "the pending job's reason")
            assert waiting["state"] == "pending" and "Resources" in waiting["reason"]
            done = {j["id"]: wait_state(h, j["id"], FINAL) for j in (older_normal, newer_normal)}
            done[debug["id"]] = wait_state(h, debug["id"], FINAL)
        starts = sorted(done.values(), key=lambda j: j["started_at"])
        assert [j["id"] for j in starts] == [debug["id"], older_normal["id"], newer_normal["id"]]
    finally:
        platform.stop()


def test_running_and_pending_jobs_survive_a_killed_server(tmp_path: Path) -> None:
    platform = start_platform(tmp_path / "home", HAI_LOCAL_CPUS="1")
    try:
        with platform.http() as h:
            running = submit(h, ["bash", "-c", "echo start; sleep 4; echo done"])
            wait_state(h, running["id"], {"running"})
            queued = submit(h, ["bash", "-c", "echo second"])
        platform.stop(signal.SIGKILL)  # no chance to clean up
        time.sleep(0.5)
        platform.start()
        with platform.http() as h:
            first = wait_state(h, running["id"], FINAL)
            second = wait_state(h, queued["id"], FINAL)
            # one CPU: the queued job kept its place and started only when the slot was free
            assert second["started_at"] >= first["ended_at"]
            assert first["state"] == "completed" and first["exit_code"] == 0
            assert logs(h, running["id"]) == "start\ndone\n"
            assert second["state"] == "completed" and logs(h, queued["id"]) == "second\n"
    finally:
        platform.stop()


def test_users_see_only_their_own_jobs(lab: Platform) -> None:
    alice = lab.add_user_key("alice-jobs", groups=("physics",))
    bob = lab.add_user_key("bob-jobs")
    with lab.http(alice) as a, lab.http(bob) as b, lab.http() as admin:
        job = submit(a, ["true"])
        assert job["user"] == "alice-jobs" and job["account"] == "physics"
        assert b.get(f"/api/jobs/{job['id']}").status_code == 404
        r = b.post("/api/jobs", json={"command": ["true"], "account": "physics"})
        assert r.status_code == 403 and "not a member of group 'physics'" in r.text
        assert b.post(f"/api/jobs/{job['id']}/cancel").status_code == 404
        assert all(j["user"] == "bob-jobs" for j in b.get("/api/jobs").json())
        assert b.get("/api/jobs", params={"user": "alice-jobs"}).status_code == 403
        everyone = admin.get("/api/jobs", params={"all": True}).json()
        assert any(j["id"] == job["id"] for j in everyone)
        assert b.put("/api/compute/policy", json={"toml": SMALL_POLICY}).status_code == 403


def test_jobs_do_not_inherit_the_servers_secrets(tmp_path: Path) -> None:
    platform = start_platform(tmp_path / "home", HAI_SERVER_SECRET="s" * 43)
    try:
        with platform.http() as h:
            job = submit(h, ["bash", "-c", "echo secret=${HAI_SERVER_SECRET:-none} url=$HAI_URL"])
            wait_state(h, job["id"], FINAL)
            assert logs(h, job["id"]).strip() == f"secret=none url={platform.url}"
    finally:
        platform.stop()


def test_logs_follow_a_running_job_to_its_end(lab: Platform) -> None:
    with lab.http() as h:
        job = submit(h, ["bash", "-c", "for i in 1 2 3; do echo line $i; sleep 0.5; done"])
        with h.stream("GET", f"/api/jobs/{job['id']}/logs", params={"follow": True}) as r:
            text = b"".join(r.iter_bytes()).decode()
        assert text == "line 1\nline 2\nline 3\n"
        assert h.get(f"/api/jobs/{job['id']}").json()["state"] == "completed"
        assert h.get(f"/api/jobs/{job['id']}/logs", params={"offset": 7}).text.startswith("line 2")


def test_the_cli_submits_lists_shows_and_waits(lab: Platform) -> None:
    env = {**lab.env, "HAI_API_KEY": lab.admin_key}

    def hai(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hakutaku", *args], env=env, capture_output=True, text=True
        )

    out = hai("jobs", "submit", "--cpus", "2", "--mem", "512M", "--", "echo", "from-cli")
    assert out.returncode == 0, out.stderr
    job_id = out.stdout.strip()
    assert job_id.isdigit()
    waited = hai("jobs", "wait", job_id, "--timeout", "30")
    assert waited.returncode == 0 and "completed" in waited.stdout, waited.stderr
    assert hai("jobs", "logs", job_id).stdout == "from-cli\n"
    shown = hai("jobs", "show", job_id, "--json")
    assert '"mem_mb": 512' in shown.stdout and '"cpus": 2' in shown.stdout
    assert job_id in hai("jobs", "list").stdout
    failing = hai("jobs", "submit", "--json", "--", "bash", "-c", "exit 4")
    assert '"state": "pending"' in failing.stdout
    bad = hai("jobs", "submit", "--qos", "debug", "--time", "2:00:00", "--", "true")
    assert bad.returncode == 1 and "MaxWall" in bad.stderr
    listed = hai("compute", "qos").stdout
    assert "tiny" in listed and "gpunormal" not in listed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rpartition(")")[2].split()[0] != "Z"


def test_a_cancel_between_claim_and_runner_start_is_not_lost(tmp_path: Path) -> None:
    # The scheduler commits its claim (the job's backend id) before the runner exists; a cancel
    # in that window has no process to signal. It must still stop the job.
    backend = LocalBackend(tmp_path / "jobs")
    proof = tmp_path / "ran"
    request = JobRequest(
        id=7,
        user="alice",
        account=None,
        name="late",
        command=["bash", "-c", f"touch {proof}; sleep 30"],
        script=None,
        workdir=str(tmp_path),
        env={"PATH": os.environ["PATH"]},
        partition="cpu",
        qos="normal",
        cpus=1,
        mem_mb=256,
        accelerator="cpu",
        accelerator_model=None,
        accelerators=0,
        time_limit=60,
        job_dir=str(tmp_path / "jobs" / "7"),
        log_path=str(tmp_path / "jobs" / "7" / "output.log"),
    )
    backend.cancel("7")  # claimed, not yet handed over
    assert backend.submit(request) == "7"

    def final() -> object:
        seen = backend.poll(["7"]).get("7")
        return seen if seen is not None and seen.state.final else None

    seen = wait_until(final, 20, "the runner to record the cancel")
    assert seen.state is JobState.CANCELLED and "before it started" in seen.reason
    assert not proof.exists()


def test_an_extended_job_outlives_its_first_limit_even_across_a_restart(tmp_path: Path) -> None:
    """A running job's limit raised through the API (runner re-reads it at the old deadline),
    a queued one's raised before it starts (it starts with the new limit); the server is
    killed in between. Asserted on states and stored limits, not on timings."""
    platform = start_platform(tmp_path / "home", HAI_LOCAL_CPUS="1")
    alice = platform.add_user_key("alice-extend")
    try:
        with platform.http(alice) as a, platform.http() as admin:
            running = submit(
                a, ["bash", "-c", "sleep 8; echo done-running"], qos="debug", time="0:05"
            )
            wait_state(a, running["id"], {"running"})
            r = a.post(f"/api/jobs/{running['id']}/extend", json={"by": "1m"})
            assert r.status_code == 200, r.text
            assert r.json()["time_limit"] == 65 and r.json()["time_limit_text"] == "00:01:05"
            job_dir = platform.home / "jobs" / str(running["id"])
            assert (job_dir / "time_limit").read_text() == "65"
            # over the QOS: the limit and what may still be asked
            r = a.post(f"/api/jobs/{running['id']}/extend", json={"by": "15m"})
            error = r.json()["error"]
            assert r.status_code == 400 and error["code"] == "qos_max_wall", r.text
            assert error["message"] == (
                "The MaxWall of QOS 'debug' allows at most 15 m; this job already has 1 m 5 s, "
                "so ask for at most 13 m 55 s more."
            )
            bad = a.post(f"/api/jobs/{running['id']}/extend", json={"by": "soon"})
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "by"
            # queued behind it (one CPU): extended by its owner's admin, in the database alone
            queued = submit(a, ["bash", "-c", "sleep 3; echo done-queued"], time="0:02")
            r = admin.post(f"/api/jobs/{queued['id']}/extend", json={"by": 30})
            assert r.status_code == 200 and r.json()["state"] == "pending", r.text
            assert r.json()["time_limit"] == 32
        platform.stop(signal.SIGKILL)  # the new limits must not live in its memory only
        platform.start()
        with platform.http(alice) as a:
            first = wait_state(a, running["id"], FINAL)
            second = wait_state(a, queued["id"], FINAL)
            assert first["state"] == "completed", first
            assert first["time_limit"] == 65 and logs(a, running["id"]) == "done-running\n"
            assert second["state"] == "completed", second
            assert second["time_limit"] == 32 and logs(a, queued["id"]) == "done-queued\n"
            # it started with its new limit, given to the runner at submission
            request = (platform.home / "jobs" / str(queued["id"]) / "request.json").read_text()
            assert '"time_limit": 32' in request
            ended = a.post(f"/api/jobs/{running['id']}/extend", json={"by": "1m"})
            assert ended.status_code == 409 and "already ended" in ended.text
        with platform.http(platform.add_user_key("bob-extend")) as b:
            assert b.post(f"/api/jobs/{queued['id']}/extend", json={"by": "1m"}).status_code == 404
    finally:
        platform.stop()


def test_the_cli_extends_a_job(lab: Platform) -> None:
    env = {**lab.env, "HAI_API_KEY": lab.admin_key}

    def hai(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hakutaku", *args], env=env, capture_output=True, text=True
        )

    with lab.http() as h:
        job = submit(h, ["sleep", "60"], qos="debug", time="5")
        out = hai("jobs", "extend", str(job["id"]), "--by", "5m")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().startswith(f"job {job['id']}: time limit 00:10:00")
        refused_ = hai("jobs", "extend", str(job["id"]), "--by", "1h")
        assert refused_.returncode == 1 and "ask for at most 5 m more" in refused_.stderr
        assert h.get(f"/api/jobs/{job['id']}").json()["time_limit"] == 600
        h.post(f"/api/jobs/{job['id']}/cancel")
        wait_state(h, job["id"], FINAL)

"""Campaigns on the platform, end to end: a real server, `hai workflows run` starting a real
campaign (Parsl on the local profile) journaled through /api/workflows under the key's user,
list/show/cancel over HTTP and the CLI, other users' 404s, cancel of a running task's process
tree from another process, and the tasks' ledger rows exactly once across a kill and resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from hakutaku.sdk.client import Client
from hakutaku.sdk.errors import APIError
from hakutaku.workflows.proctree import tree_pids
from tests.support.processes import Platform, wait_until

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN_FILE = str(Path(__file__).parent / "platform_campaign.py")
SETTINGS = {
    "HAI_DEMO_WORKERS": "false",
    "HAI_ACCOUNTING_INTERVAL": "3600",  # the tests collect when they want to look
    "HAI_WORKFLOW_STALE_AFTER": "5",
    # room for a campaign's block job on the local backend, started without delay
    "HAI_LOCAL_CPUS": "8",
    "HAI_LOCAL_MEM_MB": "16000",
    "HAI_SCHEDULER_INTERVAL": "0.25",
}


@dataclass
class Site:
    platform: Platform
    alice: str
    bob: str

    def env(self, key: str) -> dict[str, str]:
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        return {**self.platform.env, "HAI_API_KEY": key, "PYTHONPATH": path}

    def hai(self, key: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hakutaku", *args],
            env=self.env(key),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start_hai(self, key: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "hakutaku", *args],
                env=self.env(key),
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: the test can kill the whole campaign
            )

    def client(self, key: str | None = None) -> Client:
        return self.platform.client(key)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    platform = Platform(tmp_path_factory.mktemp("wf-platform") / "home", **SETTINGS).start()
    try:
        yield Site(platform, platform.add_user_key("alice"), platform.add_user_key("bob"))
    finally:
        platform.stop()


def report_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def workflow_rows(site: Site, campaign_id: int) -> list[dict[str, Any]]:
    admin = site.client()
    admin.usage.collect()
    rows = admin.usage.ledger(source="workflow", limit=100_000)
    return [r for r in rows if r["ref"].startswith(f"{campaign_id}/")]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# ------------------------------------------------------------------ run, list, show, owners


def test_run_journals_the_campaign_under_the_keys_user(site: Site, tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    done = site.hai(
        site.alice, "workflows", "run", CAMPAIGN_FILE, "--name", "quick", "--profile", "local",
        "--", "count", "3", str(log), "0.1",
    )  # fmt: skip
    report = report_of(done)
    assert report["name"] == "quick" and report["profile"] == "local"  # the flags won
    assert report["results"] == [0, 1, 4]
    assert "as alice" in done.stderr

    alice = site.client(site.alice)
    (listed,) = [c for c in alice.workflows.list() if c["name"] == "quick"]
    assert listed["owner"] == "alice" and listed["state"] == "finished"
    assert listed["tasks"] == {"done": 3} and listed["runs"] == 1
    shown = alice.workflows.get("quick")
    assert len(shown["task_list"]) == 3
    for task in shown["task_list"]:
        assert task["state"] == "done" and task["attempts"] == 1 and task["run"] == 1
        assert task["submitted_at"] <= task["started_at"] <= task["ended_at"]
        assert task["wall_seconds"] > 0 and task["result_ref"] == task["task_dir"]
        assert Path(task["result_ref"], "result.pkl").exists()

    # the CLI shows the same
    listing = site.hai(site.alice, "workflows", "list")
    assert listing.returncode == 0 and "quick" in listing.stdout and "done 3" in listing.stdout
    show = site.hai(site.alice, "workflows", "show", "quick")
    assert show.returncode == 0, show.stderr
    assert all(t["key"] in show.stdout for t in shown["task_list"]), show.stdout
    task_lines = [line.split() for line in show.stdout.splitlines() if "counted-" in line]
    assert [words[1] for words in task_lines] == ["done"] * 3

    # bob sees nothing of it; the admin sees it as alice's
    bob = site.client(site.bob)
    assert all(c["name"] != "quick" for c in bob.workflows.list())
    for call in (lambda: bob.workflows.get("quick"), lambda: bob.workflows.cancel("quick")):
        with pytest.raises(APIError) as caught:
            call()
        assert caught.value.status == 404 and "hai workflows list" in caught.value.message
    with pytest.raises(APIError) as forbidden:
        bob.workflows.list(user="alice")
    assert forbidden.value.status == 403
    refused = site.hai(site.bob, "workflows", "show", "quick")
    assert refused.returncode == 1 and "No campaign 'quick' of yours" in refused.stderr
    admin = site.client()
    assert any(c["name"] == "quick" and c["owner"] == "alice" for c in admin.workflows.list())
    assert admin.workflows.get("quick")["owner"] == "alice"

    # an ended campaign cannot be cancelled
    with pytest.raises(APIError) as ended:
        alice.workflows.cancel("quick")
    assert ended.value.status == 409 and "already ended (finished)" in ended.value.message


# ------------------------------------------------------------------ cancel from elsewhere


def test_cancel_stops_the_running_task_of_another_process(site: Site, tmp_path: Path) -> None:
    run = site.start_hai(
        site.alice, "workflows", "run", CAMPAIGN_FILE, "--name", "hold", "--", "hold",
        log=tmp_path / "run.log",
    )  # fmt: skip
    alice = site.client(site.alice)
    try:

        def running() -> dict[str, Any] | None:
            tasks = alice.workflows.get("hold")["task_list"] if _exists(alice, "hold") else []
            return tasks[0] if tasks and tasks[0]["state"] == "running" else None

        task = wait_until(running, 120, f"the held task to run ({tmp_path / 'run.log'})")
        wait_until(lambda: len(tree_pids(Path(task["task_dir"]))) >= 3, 60, "its tree")
        pids = tree_pids(Path(task["task_dir"]))

        with pytest.raises(APIError) as caught:
            site.client(site.bob).workflows.cancel("hold")
        assert caught.value.status == 404
        assert all(alive(p) for p in pids)  # bob's cancel did nothing

        cancelled = site.hai(site.alice, "workflows", "cancel", "hold", "--wait")
        assert cancelled.returncode == 0, cancelled.stderr
        assert "cancel asked" in cancelled.stdout and "hold: cancelled" in cancelled.stdout
        wait_until(lambda: not any(alive(p) for p in pids), 10, "the task's tree to be gone")
        assert run.wait(timeout=60) == 0
        output = (tmp_path / "run.log").read_text()
        assert json.loads(output.strip().splitlines()[-1])["outcome"] == "cancelled"

        shown = alice.workflows.get("hold")
        assert shown["state"] == "cancelled" and shown["tasks"] == {"cancelled": 1}
        (held,) = shown["task_list"]
        assert held["cards"] == 1 and held["ended_at"] is not None
        # the cancelled task held 1 core and 1 card while it ran: both are billed, to alice
        rows = workflow_rows(site, shown["id"])
        assert {r["resource"] for r in rows} == {"cpu", "gpu"}
        assert all(r["user"] == "alice" and float(r["quantity"]) > 0 for r in rows)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)


def _exists(client: Client, name: str) -> bool:
    return any(c["name"] == name for c in client.workflows.list())


# ------------------------------------------------------------------ ledger across resumes


def test_ledger_bills_each_task_once_across_a_kill_and_resumes(site: Site, tmp_path: Path) -> None:
    tasks, log = 8, tmp_path / "log.txt"
    args = ("workflows", "run", CAMPAIGN_FILE, "--name", "resumed", "--",
            "count", str(tasks), str(log), "0.4")  # fmt: skip
    alice = site.client(site.alice)
    first = site.start_hai(site.alice, *args, log=tmp_path / "first.log")
    try:

        def finished_keys() -> set[str]:
            if not _exists(alice, "resumed"):
                return set()
            rows = alice.workflows.get("resumed", state="done")["task_list"]
            return {t["key"] for t in rows}

        wait_until(lambda: len(finished_keys()) >= 3, 120, "three tasks journaled done")
        os.killpg(first.pid, signal.SIGKILL)  # the CLI, the campaign, its Parsl processes
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    before = finished_keys()
    assert 3 <= len(before) < tasks, "the kill came after the campaign ended"

    second = report_of(site.hai(site.alice, *args))
    assert second["results"] == [i * i for i in range(tasks)]
    assert second["reused"] >= len(before)
    shown = alice.workflows.get("resumed")
    assert shown["state"] == "finished" and shown["runs"] == 2
    assert shown["tasks"] == {"done": tasks}
    by_key = {t["key"]: t for t in shown["task_list"]}
    assert all(by_key[k]["run"] == 1 for k in before)

    rows = workflow_rows(site, shown["id"])
    billed = Counter(r["ref"].split("/")[1] for r in rows)
    # Every task whose time is known is billed once. (One that finished in the instant
    # between its result and its worker's record of the time, as the kill struck, is
    # adopted with no time known, and billed nothing.)
    timed = {k for k, t in by_key.items() if t["wall_seconds"] > 0}
    assert before <= timed and len(timed) >= tasks - 2
    assert set(billed) == timed and set(billed.values()) == {1}, billed
    for row in rows:
        _, key, run = row["ref"].split("/")
        task = by_key[key]
        assert int(run) == task["run"] and row["resource"] == "cpu"
        assert float(row["quantity"]) == pytest.approx(
            task["cpus"] * task["wall_seconds"] / 3600, abs=1e-6
        )

    # a third run finds every task finished: it runs none and bills none
    third = report_of(site.hai(site.alice, *args))
    assert third["reused"] == tasks
    assert alice.workflows.get("resumed")["runs"] == 3
    assert workflow_rows(site, shown["id"]) == rows
    runs = Counter(int(line) for line in log.read_text().split())
    assert all(runs[_index(by_key[k])] == 1 for k in before), runs


def _index(task: dict[str, Any]) -> int:
    import math

    from hakutaku.workflows import refs

    return math.isqrt(refs.load(Path(task["result_ref"])))


def test_tasks_in_the_owners_block_jobs_are_billed_as_those_jobs(
    site: Site, tmp_path: Path
) -> None:
    """With the platform profile the blocks are alice's jobs, which the ledger bills: the
    campaign says so, and its tasks get no rows of their own (the same cores, once)."""
    from hakutaku.workflows.profiles import PROFILES

    if "platform" not in PROFILES:
        pytest.skip("the platform profile (blocks as platform jobs) is not in this tree")
    args = ("workflows", "run", CAMPAIGN_FILE, "--name", "on-jobs", "--profile", "platform",
            "--", "count", "2", str(tmp_path / "log.txt"), "0.1")  # fmt: skip
    report = report_of(site.hai(site.alice, *args))
    assert report["results"] == [0, 1] and report["profile"] == "platform"
    alice = site.client(site.alice)
    shown = alice.workflows.get("on-jobs")
    assert shown["blocks_are_jobs"] and shown["tasks"] == {"done": 2}
    blocks = [j for j in alice.jobs.list() if j["name"].startswith("workflow-on-jobs:")]
    assert blocks and all(j["user"] == "alice" for j in blocks)
    assert workflow_rows(site, shown["id"]) == []
    admin = site.client()
    wait_until(
        lambda: all(j["state"] in ("cancelled", "completed") for j in _jobs(alice, blocks)),
        60,
        "the block jobs to end with the campaign",
    )
    admin.usage.collect()
    job_refs = {r["ref"] for r in admin.usage.ledger(source="job", user="alice", limit=100_000)}
    assert {str(j["id"]) for j in blocks} <= job_refs


def _jobs(client: Client, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [client.jobs.get(j["id"]) for j in blocks]


# ------------------------------------------------------------------ the journal API and errors


def test_admin_names_the_owner_when_several_share_a_name(site: Site) -> None:
    for key in (site.alice, site.bob):
        site.client(key).workflows.start_run(
            "shared", run_dir=f"/tmp/shared-{key[-6:]}", profile="local", host="h", pid=None
        )
    admin = site.client()
    with pytest.raises(APIError) as caught:
        admin.workflows.get("shared")
    assert caught.value.status == 409 and "alice, bob" in caught.value.message
    assert admin.workflows.get("shared", user="bob")["owner"] == "bob"
    assert {c["owner"] for c in admin.workflows.list(user="alice")} == {"alice"}


def test_cancel_ends_a_campaign_whose_steering_process_is_gone(site: Site) -> None:
    alice = site.client(site.alice)
    opened = alice.workflows.start_run(
        "ghost", run_dir="/tmp/ghost", profile="local", host="gone", pid=1
    )
    row = {"key": "t-1", "name": "t", "kind": "python", "state": "running", "task_dir": "/tmp/t"}
    alice.workflows.write_tasks("ghost", opened["run"], [row])
    # its last heartbeat is fresh: the flag is set for the steering process to read
    first = alice.workflows.cancel("ghost")
    assert first["state"] == "running" and first["cancel_requested"]
    # no heartbeat follows (HAI_WORKFLOW_STALE_AFTER=5): a later cancel ends it here
    wait_until(lambda: alice.workflows.cancel("ghost")["state"] == "cancelled", 60, "the end")
    (task,) = alice.workflows.get("ghost")["task_list"]
    assert task["state"] == "cancelled" and "steering process was gone" in task["error"]


def test_the_journal_refuses_bad_rows_and_stale_runs(site: Site) -> None:
    alice = site.client(site.alice)
    first = alice.workflows.start_run("journal", run_dir="/tmp/j", profile="local", host="h")
    with pytest.raises(APIError) as new_without_fields:
        alice.workflows.write_tasks("journal", first["run"], [{"key": "k", "state": "done"}])
    assert new_without_fields.value.status == 400
    assert "missing: name, kind, task_dir" in new_without_fields.value.message
    with pytest.raises(APIError) as bad_state:
        alice.workflows.write_tasks("journal", first["run"], [{"key": "k", "state": "asleep"}])
    assert bad_state.value.status == 422 and "tasks.0.state" in bad_state.value.message
    second = alice.workflows.start_run("journal", run_dir="/tmp/j", profile="local", host="h")
    assert second["run"] == first["run"] + 1
    with pytest.raises(APIError) as stale:
        alice.workflows.write_tasks("journal", first["run"], [])
    assert stale.value.status == 409 and stale.value.code == "stale_run"
    with pytest.raises(APIError) as elsewhere:
        alice.workflows.start_run("journal", run_dir="/tmp/other", profile="local", host="h")
    assert elsewhere.value.status == 409 and "already ran in /tmp/j" in elsewhere.value.message
    with pytest.raises(APIError) as bad_name:
        alice.workflows.start_run("no/slash", run_dir="/tmp/x", profile="local", host="h")
    assert bad_name.value.status == 422
    with pytest.raises(APIError) as bad_filter:
        alice.workflows.get("journal", state="asleep")
    assert bad_filter.value.status == 400 and "unknown task state" in bad_filter.value.message


def test_cli_errors_say_what_was_wrong(site: Site, tmp_path: Path) -> None:
    missing = site.hai(site.alice, "workflows", "run", str(tmp_path / "nope.py"))
    assert missing.returncode == 2 and "no campaign file" in missing.stderr
    profile = site.hai(site.alice, "workflows", "run", CAMPAIGN_FILE, "--profile", "mars")
    assert profile.returncode == 2 and "unknown profile 'mars'" in profile.stderr
    assert "local" in profile.stderr
    name = site.hai(site.alice, "workflows", "run", CAMPAIGN_FILE, "--name", "a/b")
    assert name.returncode == 2 and "invalid campaign name" in name.stderr
    bad_key = site.hai("hai-nope.nope", "workflows", "run", CAMPAIGN_FILE, "--", "count", "1")
    assert bad_key.returncode == 1 and "401" in bad_key.stderr
    for command in ("show", "cancel"):
        unknown = site.hai(site.alice, "workflows", command, "nosuch")
        assert unknown.returncode == 1 and "No campaign 'nosuch' of yours" in unknown.stderr

"""A job's folder over the API, through a real server on the local backend: its owner lists
and downloads it (SDK and CLI too), nobody else sees it, unsafe paths are refused, and the file
holding the job's environment (an app session's secret) is never served."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hakutaku.compute import job_files
from hakutaku.sdk.errors import APIError
from tests.compute.test_local_jobs import FINAL, start_platform, submit, wait_state
from tests.support.processes import Platform

SECRET = "app-session-secret-7f3a9c"  # what an app session's job gets in its environment


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = start_platform(tmp_path_factory.mktemp("job-files") / "home", HAI_LOCAL_CPUS="4")
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope="module")
def keys(lab: Platform) -> dict[str, str]:
    return {"alice": lab.add_user_key("alice"), "bob": lab.add_user_key("bob")}


@pytest.fixture(scope="module")
def finished(lab: Platform, keys: dict[str, str]) -> dict[str, Any]:
    """Alice's finished job, which wrote a folder, a text, an HTML page, binary bytes and
    links (one out of the folder, one to request.json) into its folder."""
    folder = f"{lab.home}/jobs/$HAI_JOB_ID"
    script = (
        "echo hello from the job; "
        f"mkdir -p {folder}/results/deeper && echo 42 > {folder}/results/answer.txt; "
        f"echo '<script>alert(1)</script>' > {folder}/page.html; "
        f"printf 'a\\000b' > {folder}/bytes.bin; "
        f"ln -s /etc/passwd {folder}/escape; ln -s request.json {folder}/env-link; "
        f"ln -s .. {folder}/results/deeper/back; mkfifo {folder}/pipe"
    )
    with lab.http(keys["alice"]) as h:
        job = submit(h, ["bash", "-c", script], env={"HAI_APP_SECRET": SECRET})
        done = wait_state(h, job["id"], FINAL)
    assert done["state"] == "completed", done
    return done


def test_the_owner_lists_the_folder_and_its_subfolders(
    lab: Platform, keys: dict[str, str], finished: dict[str, Any]
) -> None:
    job_id = finished["id"]
    with lab.http(keys["alice"]) as h:
        top = h.get(f"/api/jobs/{job_id}/files")
        assert top.status_code == 200, top.text
        listing = top.json()
        sub = h.get(f"/api/jobs/{job_id}/files", params={"path": "results"}).json()
    assert listing["job_id"] == job_id and listing["path"] == "" and listing["type"] == "dir"
    entries = {e["name"]: e for e in listing["entries"]}
    assert {"output.log", "results", "page.html", "bytes.bin", "escape", "env-link"} <= set(entries)
    assert "request.json" not in entries  # the platform's own: the job's environment
    assert entries["results"]["type"] == "dir" and entries["escape"]["type"] == "link"
    log = entries["output.log"]
    assert log["type"] == "file" and log["size"] == len("hello from the job\n")
    assert log["path"] == "output.log" and log["modified"]
    assert [e["path"] for e in sub["entries"]] == ["results/answer.txt", "results/deeper"]
    assert sub["entries"][0]["size"] == 3


def test_the_owner_downloads_a_file_and_views_text_as_plain_text(
    lab: Platform, keys: dict[str, str], finished: dict[str, Any]
) -> None:
    base = f"/api/jobs/{finished['id']}/files"
    with lab.http(keys["alice"]) as h:
        log = h.get(f"{base}/output.log")
        shown = h.get(f"{base}/output.log", params={"inline": "true"})
        page = h.get(f"{base}/page.html", params={"inline": "true"})
        binary = h.get(f"{base}/bytes.bin", params={"inline": "true"})
        part = h.get(f"{base}/output.log", headers={"range": "bytes=6-9"})
        through_link = h.get(f"{base}/results/deeper/back/answer.txt")
        folder = h.get(f"{base}/results")
        missing = h.get(f"{base}/nothing-here.txt")
    assert log.status_code == 200 and log.text == "hello from the job\n"
    assert log.headers["content-disposition"].startswith("attachment")
    assert 'filename="output.log"' in log.headers["content-disposition"]
    assert shown.headers["content-disposition"].startswith("inline")
    assert shown.headers["content-type"] == "text/plain; charset=utf-8"
    # HTML a job wrote is shown as text, never run as a page of the platform's origin.
    assert page.headers["content-type"] == "text/plain; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert binary.headers["content-disposition"].startswith("attachment")  # not text
    assert binary.content == b"a\x00b"
    assert part.status_code == 206 and part.text == "from"
    assert through_link.status_code == 200 and through_link.text == "42\n"  # a link inside
    assert folder.status_code == 400 and "is a folder" in folder.json()["error"]["message"]
    with lab.http(keys["alice"]) as h:  # a FIFO the job made: refused, not waited on
        fifo = h.get(f"{base}/pipe", timeout=10)
    assert fifo.status_code == 400 and "not a regular file" in fifo.text
    assert missing.status_code == 404


def test_another_user_gets_404_as_for_the_job_itself_and_an_admin_sees_it(
    lab: Platform, keys: dict[str, str], finished: dict[str, Any]
) -> None:
    job_id = finished["id"]
    with lab.http(keys["bob"]) as h:
        job = h.get(f"/api/jobs/{job_id}")
        listing = h.get(f"/api/jobs/{job_id}/files")
        file = h.get(f"/api/jobs/{job_id}/files/output.log")
    assert job.status_code == listing.status_code == file.status_code == 404
    assert listing.json() == job.json() == file.json()  # the same answer: nothing to tell
    with lab.http() as admin:
        assert admin.get(f"/api/jobs/{job_id}/files/output.log").text == "hello from the job\n"


@pytest.mark.parametrize(
    ("how", "path", "reason"),
    [
        ("list", "..", "'..' climbs above the top"),
        ("list", "results/../../..", "'..' climbs above the top"),
        ("list", "/etc", "it is absolute"),
        ("get", "results/%2E%2E/%2E%2E/jobs.txt", "'..' climbs above the top"),
        ("get", "/etc/passwd", "it is absolute"),
        ("get", "escape", "outside the job's folder through a symbolic link"),
        ("list", "escape", "outside the job's folder through a symbolic link"),
    ],
)
def test_unsafe_paths_are_refused_with_the_reason(
    lab: Platform, keys: dict[str, str], finished: dict[str, Any], how: str, path: str, reason: str
) -> None:
    base = f"/api/jobs/{finished['id']}/files"
    with lab.http(keys["alice"]) as h:
        r = h.get(base, params={"path": path}) if how == "list" else h.get(f"{base}/{path}")
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_path" and reason in error["message"]
    assert f"job {finished['id']}'s folder" in error["message"]


def test_the_file_with_the_jobs_environment_is_never_served(
    lab: Platform, keys: dict[str, str], finished: dict[str, Any]
) -> None:
    job_id = finished["id"]
    on_disk = lab.home / "jobs" / str(job_id) / "request.json"
    assert SECRET in on_disk.read_text()  # the file exists and holds the secret
    base = f"/api/jobs/{job_id}/files"
    with lab.http(keys["alice"]) as h:
        for path in ("request.json", "env-link", "results/../request.json", "./request.json"):
            r = h.get(f"{base}/{path}")
            assert r.status_code == 404, (path, r.text)
            assert r.json()["error"]["code"] == "hidden_file", path
            assert SECRET not in r.text
        assert h.get(base, params={"path": "request.json"}).json()["error"]["code"] == (
            "hidden_file"
        )
        served = b""
        for entry in h.get(base).json()["entries"]:
            if entry["type"] == "file":
                served += h.get(f"{base}/{entry['path']}").content
    assert SECRET.encode() not in served


def test_a_job_not_started_yet_lists_empty(lab: Platform, keys: dict[str, str]) -> None:
    with lab.http(keys["alice"]) as h:
        blocker = submit(h, ["sleep", "60"], cpus=4)  # the executor has 4 CPUs
        wait_state(h, blocker["id"], {"running"})
        waiting = submit(h, ["true"], cpus=1)
        try:
            assert h.get(f"/api/jobs/{waiting['id']}").json()["state"] == "pending"
            assert not (lab.home / "jobs" / str(waiting["id"])).exists()
            r = h.get(f"/api/jobs/{waiting['id']}/files")
            assert r.status_code == 200, r.text
            assert r.json()["entries"] == []
            gone = h.get(f"/api/jobs/{waiting['id']}/files/output.log")
            assert gone.status_code == 404
        finally:
            for job in (waiting, blocker):
                h.post(f"/api/jobs/{job['id']}/cancel")


def test_the_sdk_lists_and_downloads(
    lab: Platform, keys: dict[str, str], finished: dict[str, Any], tmp_path: Path
) -> None:
    client = lab.client(keys["alice"])
    job_id = finished["id"]
    names = [e["name"] for e in client.jobs.files(job_id)["entries"]]
    assert "output.log" in names and "request.json" not in names
    assert client.jobs.files(job_id, "results")["entries"][0]["name"] == "answer.txt"
    written = client.jobs.download(job_id, "output.log", tmp_path)
    assert written == tmp_path / "output.log" and written.read_text() == "hello from the job\n"
    renamed = client.jobs.download(job_id, "results/answer.txt", tmp_path / "a.txt")
    assert renamed.read_text() == "42\n"
    with pytest.raises(APIError) as refused:
        client.jobs.download(job_id, "request.json", tmp_path / "r.json")
    assert refused.value.status == 404 and not (tmp_path / "r.json").exists()
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(APIError) as other:
        lab.client(keys["bob"]).jobs.files(job_id)
    assert other.value.status == 404


def test_the_cli_lists_and_downloads(
    lab: Platform, keys: dict[str, str], finished: dict[str, Any], tmp_path: Path
) -> None:
    env = {**lab.env, "HAI_API_KEY": keys["alice"]}

    def hai(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "hakutaku", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)

    job_id = str(finished["id"])
    listed = hai("jobs", "files", job_id)
    assert listed.returncode == 0, listed.stderr
    assert "output.log" in listed.stdout and "results/" in listed.stdout
    assert "request.json" not in listed.stdout
    sub = hai("jobs", "files", job_id, "results")
    assert "answer.txt" in sub.stdout
    got = hai("jobs", "download", job_id, "output.log", str(tmp_path))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "output.log").read_text() == "hello from the job\n"
    bad = hai("jobs", "files", job_id, "../..")
    assert bad.returncode != 0 and "climbs above" in bad.stderr


def test_an_unknown_job_is_404(lab: Platform, keys: dict[str, str]) -> None:
    with httpx.Client(base_url=lab.url, headers={"authorization": f"Bearer {keys['alice']}"}) as h:
        assert h.get("/api/jobs/999999/files").status_code == 404
        assert h.get("/api/jobs/999999/files/output.log").status_code == 404


def test_a_folder_swapped_for_a_link_after_the_check_is_not_followed(tmp_path: Path) -> None:
    """The race a job could run on a root server: `inside` sees a real folder, then the job
    puts a link out of the job's folder in its place before the file is opened."""
    folder, outside = tmp_path / "jobs" / "7", tmp_path / "elsewhere"
    (folder / "d").mkdir(parents=True)
    (folder / "d" / "f.txt").write_text("mine\n")
    outside.mkdir()
    (outside / "f.txt").write_text("not the job's\n")
    root = folder.resolve()
    target = root / "d" / "f.txt"  # what `inside` answered before the swap
    (folder / "d" / "f.txt").unlink()
    (folder / "d").rmdir()
    (folder / "d").symlink_to(outside)
    with pytest.raises(job_files.UnsafeJobPath, match="outside the job's folder"):
        job_files._open_checked(7, root, target, "d/f.txt", 0)
    with pytest.raises(job_files.UnsafeJobPath, match="could not be opened safely"):
        job_files._open_checked(7, root, root / "d", "d", os.O_DIRECTORY)  # d is a link now
    # and the name itself swapped for a link: not followed at all
    (folder / "g.txt").symlink_to(outside / "f.txt")
    with pytest.raises(job_files.UnsafeJobPath, match="could not be opened safely"):
        job_files._open_checked(7, root, root / "g.txt", "g.txt", 0)

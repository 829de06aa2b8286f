"""A job's folder in a real browser, against a real server on the local backend: the job
page's Files section, folders navigated, a text file viewed and a file downloaded; another
user's 404; and an app session's card linking to its job's folder, where the file with the
session's secret is not shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.portal.conftest import PASSWORD, add_user, shot, sign_in
from tests.support.apps import (
    csrf_of,
    launch,
    signed_in_client,
    stop_all_sessions,
    wait_running,
)
from tests.support.processes import Platform, wait_until

FINAL = {"completed", "failed", "cancelled", "timeout"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(
        tmp_path_factory.mktemp("job-files-portal") / "home",
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
        HAI_LOCAL_CPUS="8",
        HAI_LOCAL_MEM_MB="32768",
        HAI_SCHEDULER_INTERVAL="0.2",
        HAI_DEMO_WORKERS="false",
    ).start()
    try:
        add_user(p, "alice")
        add_user(p, "bob")
        yield p
    finally:
        stop_all_sessions(p)
        p.stop()


@pytest.fixture(scope="module")
def alice(lab: Platform) -> httpx.Client:
    return signed_in_client(lab.url, "alice", PASSWORD)


def finished_job(lab: Platform, alice: httpx.Client) -> dict[str, Any]:
    folder = f"{lab.home}/jobs/$HAI_JOB_ID"
    script = (
        "echo the job says hello; "
        f"mkdir -p {folder}/results && echo 42 > {folder}/results/answer.txt"
    )
    r = alice.post(
        "/api/jobs",
        json={"command": ["bash", "-c", script], "name": "writes-files"},
        headers={"x-csrf-token": csrf_of(alice)},
    )
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]

    def ended() -> dict[str, Any] | None:
        job = alice.get(f"/api/jobs/{job_id}").json()
        return job if job["state"] in FINAL else None

    job: dict[str, Any] = wait_until(ended, 60, f"job {job_id} to end", interval=0.2)
    assert job["state"] == "completed", job
    return job


def test_the_job_page_lists_the_folder_views_and_downloads(
    lab: Platform, alice: httpx.Client, page: Any, context: Any
) -> None:
    job = finished_job(lab, alice)
    sign_in(page, lab, "alice")
    page.goto(f"{lab.url}/jobs/{job['id']}")
    files = page.locator("#files")
    files.get_by_role("link", name="output.log", exact=True).wait_for()
    assert files.get_by_role("link", name="results/", exact=True).is_visible()
    assert "request.json" not in files.inner_text()  # the platform's own file
    files.scroll_into_view_if_needed()
    shot(page, "jobs-files-section")

    # a text file opens in a tab of its own, as text
    with context.expect_page() as opened:
        files.get_by_role("link", name="output.log", exact=True).click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.locator("body").inner_text().strip() == "the job says hello"
    tab.close()

    # into a folder, and a file downloaded from it
    files.get_by_role("link", name="results/", exact=True).click()
    page.wait_for_url(f"{lab.url}/jobs/{job['id']}/files?path=results")
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    assert crumbs.inner_text().split() == ["Job", str(job["id"]), "results"]
    with page.expect_download() as got:
        page.get_by_role("link", name="Download answer.txt").click()
    download = got.value
    assert download.suggested_filename == "answer.txt"
    with open(download.path()) as f:
        assert f.read() == "42\n"
    shot(page, "jobs-files-folder")
    page.get_by_role("link", name=f"Up to Job {job['id']}").click()
    page.wait_for_url(f"{lab.url}/jobs/{job['id']}/files")
    assert page.get_by_role("link", name="output.log", exact=True).is_visible()

    # a path out of the folder is refused on the page, with the reason
    page.goto(f"{lab.url}/jobs/{job['id']}/files?path=../..")
    assert "climbs above the top of the job's folder" in page.get_by_role("alert").inner_text()


def test_another_user_gets_the_not_found_page(
    lab: Platform, alice: httpx.Client, page: Any
) -> None:
    job = finished_job(lab, alice)
    sign_in(page, lab, "bob")
    response = page.goto(f"{lab.url}/jobs/{job['id']}/files")
    assert response is not None and response.status == 404
    assert "output.log" not in page.content()
    bob = signed_in_client(lab.url, "bob", PASSWORD)
    assert bob.get(f"/api/jobs/{job['id']}/files/output.log").status_code == 404


def test_an_app_sessions_card_links_to_its_folder_without_the_secret(
    lab: Platform, alice: httpx.Client, page: Any
) -> None:
    session = launch(alice, "terminal")
    wait_running(lab, alice, session["id"])
    request = lab.home / "jobs" / str(session["job_id"]) / "request.json"
    env = json.loads(request.read_text())["env"]
    secret = env["HAI_APP_SECRET"]
    assert len(secret) >= 32  # the session's secret is in the file the folder hides

    sign_in(page, lab, "alice")
    page.goto(f"{lab.url}/sessions")
    card = page.locator(f".session-card[data-session='{session['id']}'][data-phase='running']")
    card.get_by_role("link", name=f"The folder of job {session['job_id']}").click()
    page.wait_for_url(f"{lab.url}/jobs/{session['job_id']}/files")
    page.get_by_role("link", name="output.log", exact=True).wait_for()
    listing = page.locator("#files").inner_text()
    assert "request.json" not in listing and secret not in page.content()
    shot(page, "jobs-files-app-session")
    hidden = alice.get(f"/api/jobs/{session['job_id']}/files/request.json")
    assert hidden.status_code == 404 and secret not in hidden.text

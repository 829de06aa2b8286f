"""The jobs pages in a real browser, against a real server: the form built from the policy
(limits beside the fields, refusals naming the limit), jobs run and followed live, cancel,
resubmit, templates, the list's pages and filters, and that one user never sees another's
jobs — on the local backend, and (when Slurm can be started) on a real Slurm."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hakutaku.compute.job_queries import JobFilter, active_counts, page_of_jobs
from hakutaku.compute.job_templates import (
    delete_template,
    get_template,
    list_templates,
    save_template,
)
from hakutaku.db.migrate import upgrade
from hakutaku.db.models import Job, User
from hakutaku.db.session import Database
from hakutaku.errors import PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.portal.pages.jobs_log import TAIL_BYTES, sse_event, start_offset
from tests.portal.conftest import add_user, shot, sign_in
from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster

FINAL = {"completed", "failed", "cancelled", "timeout"}
POLICY = """
default_partition = "cpu"

[partitions.cpu]
accelerator = "cpu"
default_time = "1:00:00"
max_time = "1-00:00:00"
qos = ["normal", "debug"]
default_qos = "normal"
description = "CPU jobs on this machine"

[partitions.gpu]
accelerator = "gpu"
models = ["a800", "l40"]
default_time = "0:30:00"
max_time = "2:00:00"
qos = ["gpunormal", "gpudebug"]
default_qos = "gpunormal"
description = "A800 and L40 cards"

[qos.normal]
max_tres_pu = "cpu=8,mem=16G"
max_wall = "1-00:00:00"
max_submit_pu = 60

[qos.debug]
priority = 20
max_wall = "0:15:00"
max_submit_pu = 10
description = "Short tests, started first"

[qos.gpunormal]
max_tres_pu = "gres/gpu=4"
max_wall = "1:00:00"
max_submit_pu = 4

[qos.gpudebug]
priority = 20
max_tres_pu = "gres/gpu=2"
max_wall = "0:15:00"
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A server on the local backend with two GPU models (fake devices), alice, bob, root."""
    home = tmp_path_factory.mktemp("jobs-portal") / "home"
    policy = home.parent / "policy.toml"
    policy.write_text(POLICY)
    p = Platform(
        home,
        HAI_COMPUTE_POLICY=str(policy),
        HAI_ACCELERATORS="gpu:a800:0,1;gpu:l40:2,3",
        HAI_LOCAL_CPUS="16",
        HAI_LOCAL_MEM_MB="32768",
        HAI_SCHEDULER_INTERVAL="0.2",
        HAI_DEMO_WORKERS="false",
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
    ).start()
    try:
        add_user(p, "alice", groups=("cms",))
        add_user(p, "bob", groups=("atlas",))
        add_user(p, "root", role="admin")
        yield p
    finally:
        p.stop()


def api_key(p: Platform, user: str) -> str:
    with p.http() as h:
        r = h.post("/api/keys", json={"user": user})
        assert r.status_code == 201, r.text
        return str(r.json()["key"])


def submit_api(p: Platform, key: str, **body: Any) -> dict[str, Any]:
    with p.http(key) as h:
        r = h.post("/api/jobs", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())


def wait_state(p: Platform, key: str, job_id: int, states: set[str]) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        with p.http(key) as h:
            job = h.get(f"/api/jobs/{job_id}").json()
        return job if job["state"] in states else None

    return dict(wait_until(reached, 60, f"job {job_id} to reach {states}", interval=0.2))


def job_id_of(page: Any) -> int:
    found = re.search(r"/jobs/(\d+)", page.url)
    assert found, page.url
    return int(found.group(1))


def state_of(page: Any) -> str:
    return str(page.locator("#job-state").inner_text().strip())


def fill_form(page: Any, **fields: str) -> None:
    """Fill the New job form by its labels (a script when `script` is given)."""
    if "script" in fields:
        page.get_by_label("A bash script").check()
        page.get_by_label("Script", exact=True).fill(fields.pop("script"))
    if "command" in fields:
        page.get_by_label("A command").check()
        page.get_by_label("Command", exact=True).fill(fields.pop("command"))
    labels = {
        "name": "Job name",
        "cpus": "CPUs",
        "mem": "Memory",
        "time": "Wall time",
        "cards": "Number of cards",
        "workdir": "Working directory",
    }
    selects = {"partition": "Partition", "qos": "QOS", "card_model": "Card type"}
    # the partition first: choosing it redraws the resource fields
    for key in ("partition", "qos"):
        if key in fields:
            box = page.get_by_label(selects[key], exact=True)
            with page.expect_response(lambda r: "/jobs/new/resources" in r.url):
                box.select_option(fields.pop(key))
            page.wait_for_timeout(50)  # htmx settles the swap
    if "card_model" in fields:
        page.get_by_label(selects["card_model"], exact=True).select_option(fields.pop("card_model"))
    for key, value in fields.items():
        page.get_by_label(labels[key], exact=True).fill(value)


# -- the form -------------------------------------------------------------------------------------


def test_a_job_submitted_through_the_form_runs_and_its_output_follows_live(
    lab: Platform, page: Any
) -> None:
    sign_in(page, lab, "alice")
    page.goto(f"{lab.url}/jobs/new")
    shot(page, "jobs-new")
    fill_form(
        page,
        name="hello-live",
        script="echo first line\nsleep 4\necho second line\n",
        time="10",
    )
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+\?done=submitted"))
    assert page.get_by_role("status").first.inner_text() == "Job submitted."
    log = page.get_by_role("log")
    log.get_by_text("first line").wait_for()
    # while it sleeps: the first line is there, the second not yet, and the job runs
    assert "second line" not in log.inner_text()
    page.locator("#job-state", has_text="running").wait_for()
    shot(page, "jobs-show-running")
    log.get_by_text("second line").wait_for(timeout=30_000)
    page.locator("#job-state", has_text="completed").wait_for()
    assert page.locator("#job-exit-code").inner_text() == "0"
    status = page.locator("#log-status")
    status.get_by_text("The job has ended").wait_for()
    assert log.inner_text() == "first line\nsecond line\n"
    assert page.get_by_role("button", name="Cancel job").count() == 0  # it has ended
    details = page.locator("#job-detail").inner_text()
    assert "00:10:00" in details and "cms" in details  # time limit; the account billed
    shot(page, "jobs-show-completed")


def test_changing_the_partition_brings_its_qos_cards_and_limits(lab: Platform, page: Any) -> None:
    sign_in(page, lab, "alice")
    page.goto(f"{lab.url}/jobs/new")
    limits = page.locator("#cpus-limit")
    assert "MaxTRESPU cpu=8" in limits.inner_text()
    assert "MaxTime 1-00:00:00" in page.locator("#partition-limit").inner_text()
    assert page.get_by_label("Card type").count() == 0  # CPU partition: no cards
    page.get_by_label("Command", exact=True).fill("python train.py")  # kept across the swap
    fill_form(page, partition="gpu")
    qos = page.get_by_label("QOS", exact=True)
    assert [o.strip() for o in qos.locator("option").all_inner_texts()] == [
        "gpunormal (default)",
        "gpudebug",
    ]
    models = page.get_by_label("Card type").locator("option").all_inner_texts()
    assert models == ["Any gpu", "a800", "l40"]
    assert "MaxTRESPU gres/gpu=4" in page.locator("#cards-limit").inner_text()
    assert "01:00:00 (QOS gpunormal's MaxWall)" in page.locator("#time-limit").inner_text()
    fill_form(page, qos="gpudebug")
    assert "00:15:00 (QOS gpudebug's MaxWall)" in page.locator("#time-limit").inner_text()
    assert "MaxTRESPU gres/gpu=2" in page.locator("#cards-limit").inner_text()
    assert page.get_by_label("Command", exact=True).input_value() == "python train.py"
    assert page.get_by_label("Partition", exact=True).evaluate("e => e.value") == "gpu"
    shot(page, "jobs-new-gpu")
    page.set_viewport_size({"width": 420, "height": 900})  # a phone: limits under the fields
    shot(page, "jobs-new-narrow")


def test_a_refused_form_names_the_limit_and_keeps_the_values(lab: Platform, page: Any) -> None:
    sign_in(page, lab, "alice")
    page.goto(f"{lab.url}/jobs/new")
    fill_form(page, partition="gpu", qos="gpunormal")
    fill_form(page, command="python train.py --epochs 3", time="3:00:00", cards="1")
    page.get_by_role("button", name="Submit job").click()
    alert = page.get_by_role("alert")
    assert (
        "Time limit 03:00:00 is over the MaxTime of partition 'gpu', 02:00:00" in alert.inner_text()
    )
    time_field = page.get_by_label("Wall time")
    assert time_field.input_value() == "3:00:00"
    assert time_field.get_attribute("aria-invalid") == "true"
    assert "MaxTime" in page.locator("#time-error").inner_text()  # beside the field too
    assert page.get_by_label("Partition", exact=True).evaluate("e => e.value") == "gpu"
    assert page.get_by_label("Command", exact=True).input_value() == "python train.py --epochs 3"
    shot(page, "jobs-new-refused")
    # more CPUs than the QOS lets one user hold
    page.goto(f"{lab.url}/jobs/new")
    fill_form(page, command="true", cpus="12")
    page.get_by_role("button", name="Submit job").click()
    text = page.get_by_role("alert").inner_text()
    assert "asks for cpu=12, over the MaxTRESPU of QOS 'normal': cpu=8" in text, text
    assert page.get_by_label("CPUs").get_attribute("aria-invalid") == "true"
    # unreadable values are refused by the same service, with its words
    fill_form(page, cpus="1", mem="lots")
    page.get_by_role("button", name="Submit job").click()
    assert "Cannot read the memory size" in page.get_by_role("alert").inner_text()
    fill_form(page, mem="1G", command="echo 'unclosed")
    page.get_by_role("button", name="Submit job").click()
    assert "check its quotes" in page.get_by_role("alert").inner_text()
    # nothing was submitted by any of these
    with lab.http(api_key(lab, "alice")) as h:
        names = [j["name"] for j in h.get("/api/jobs").json()]
    assert "train.py" not in names


def test_a_gpu_job_shows_its_cards_and_devices(lab: Platform, page: Any) -> None:
    sign_in(page, lab, "alice")
    page.goto(f"{lab.url}/jobs/new")
    fill_form(page, partition="gpu", card_model="l40")
    fill_form(page, command="bash -c 'echo CUDA=$CUDA_VISIBLE_DEVICES'", cards="2")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+"))
    page.get_by_role("log").get_by_text("CUDA=").wait_for()
    page.locator("#job-state", has_text="completed").wait_for()
    resources = page.get_by_role("article").filter(has_text="Resources").inner_text()
    assert "2 × gpu l40" in resources
    assert "gpu:2, gpu:3" in resources  # the l40 cards' devices
    assert "CUDA=2,3" in page.get_by_role("log").inner_text()  # the job sees those cards
    shot(page, "jobs-show-gpu")


# -- cancel, resubmit -----------------------------------------------------------------------------


def test_cancel_from_the_job_page_and_from_the_list(lab: Platform, page: Any) -> None:
    key = api_key(lab, "alice")
    first = submit_api(lab, key, command=["sleep", "300"], name="long-sleep")
    second = submit_api(lab, key, command=["sleep", "300"], name="other-sleep")
    sign_in(page, lab, "alice")
    wait_state(lab, key, first["id"], {"running"})
    page.goto(f"{lab.url}/jobs/{first['id']}")
    page.locator("#job-state", has_text="running").wait_for()
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_url(re.compile(rf"/jobs/{first['id']}\?done=cancelled"))
    page.locator("#job-state", has_text="cancelled").wait_for(timeout=30_000)
    page.locator("#log-status").get_by_text("The job has ended").wait_for()
    shot(page, "jobs-show-cancelled")
    # a job held by the QOS shows why it waits, and is cancelled before it starts
    wait_state(lab, key, second["id"], {"running"})
    held = submit_api(lab, key, command=["true"], name="held-by-qos", cpus=8)
    page.goto(f"{lab.url}/jobs/{held['id']}")
    reason = page.locator("#job-reason")
    reason.get_by_text("MaxTRESPU").wait_for()
    assert state_of(page) == "pending"
    shot(page, "jobs-show-pending")
    page.get_by_role("button", name="Cancel job").click()
    page.locator("#job-state", has_text="cancelled").wait_for()
    assert page.locator("#job-reason").inner_text() == "cancelled before it started"
    # and from the list
    page.goto(f"{lab.url}/jobs")
    page.get_by_role("button", name=f"Cancel job {second['id']}").click()
    page.wait_for_url(re.compile(r"/jobs\?.*done=cancelled"))
    assert wait_state(lab, key, second["id"], FINAL)["state"] == "cancelled"
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"Job {second['id']}"))
    row.get_by_text("cancelled").wait_for()  # the list refreshes itself
    # cancelling an ended job again is refused with the service's words
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    token = page.evaluate("document.body.dataset.csrf")
    with httpx.Client(base_url=lab.url, cookies={"hai_session": cookie["value"]}) as h:
        again = h.post(f"/jobs/{first['id']}/cancel", data={"csrf_token": token})
    assert again.status_code == 409 and "has already ended (cancelled)" in again.text


def test_resubmit_prefills_the_form_with_the_jobs_values(lab: Platform, page: Any) -> None:
    key = api_key(lab, "alice")
    job = submit_api(
        lab,
        key,
        command=["echo", "hello world"],
        name="again",
        partition="gpu",
        qos="gpudebug",
        gpus="a800:1",
        time="0:05:00",
        mem="2G",
    )
    sign_in(page, lab, "alice")
    page.goto(f"{lab.url}/jobs/{job['id']}")
    page.get_by_role("button", name="Resubmit").click()
    page.wait_for_url(re.compile(rf"/jobs/new\?from={job['id']}"))
    assert page.get_by_label("Command", exact=True).input_value() == "echo 'hello world'"
    assert page.get_by_label("Job name").input_value() == "again"
    assert page.get_by_label("Partition", exact=True).evaluate("e => e.value") == "gpu"
    assert page.get_by_label("QOS", exact=True).evaluate("e => e.value") == "gpudebug"
    assert page.get_by_label("Card type").evaluate("e => e.value") == "a800"
    assert page.get_by_label("Number of cards").input_value() == "1"
    assert page.get_by_label("Wall time").input_value() == "00:05:00"
    assert page.get_by_label("Memory").input_value() == "2G"
    shot(page, "jobs-resubmit")
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+\?done=submitted"))
    again = job_id_of(page)
    assert again != job["id"]
    with lab.http(key) as h:
        copy = h.get(f"/api/jobs/{again}").json()
    for field in ("command", "partition", "qos", "accelerator_model", "time_limit", "mem_mb"):
        assert copy[field] == job[field], field


# -- templates ------------------------------------------------------------------------------------


def test_a_template_is_saved_reused_and_deleted_and_is_only_its_owners(
    lab: Platform, page: Any, browser: Any
) -> None:
    sign_in(page, lab, "alice")
    page.goto(f"{lab.url}/jobs/new")
    fill_form(page, partition="gpu", qos="gpudebug")
    fill_form(page, name="nightly", script="echo from the template\n", cards="1", time="5")
    page.get_by_label("Template name").fill("nightly check")
    page.get_by_role("button", name="Save as template").click()
    page.wait_for_url(re.compile(r"/jobs/new\?template=\d+&done=saved"))
    assert page.get_by_role("status").first.inner_text() == "Template saved."
    template_id = int(re.search(r"template=(\d+)", page.url).group(1))  # type: ignore[union-attr]
    page.goto(f"{lab.url}/jobs/templates")
    assert page.get_by_role("cell", name="nightly check", exact=True).is_visible()
    shot(page, "jobs-templates")
    page.get_by_role("button", name="New job from nightly check").click()
    assert page.get_by_label("Script", exact=True).input_value() == "echo from the template\n"
    assert page.get_by_label("QOS", exact=True).evaluate("e => e.value") == "gpudebug"
    assert page.get_by_label("Wall time").input_value() == "5"
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+\?done=submitted"))
    page.get_by_role("log").get_by_text("from the template").wait_for()
    # saving under the same name replaces it
    page.goto(f"{lab.url}/jobs/new?template={template_id}")
    fill_form(page, time="7")
    page.get_by_role("button", name="Save as template").click()
    assert page.get_by_role("status").first.inner_text() == "Template updated."
    page.get_by_label("Template name").fill("")
    page.get_by_role("button", name="Save as template").click()
    assert page.get_by_role("alert").inner_text() == "Give the template a name."

    # bob sees none of it: not listed, not openable, not deletable
    other = browser.new_context()
    try:
        bob = other.new_page()
        sign_in(bob, lab, "bob")
        bob.goto(f"{lab.url}/jobs/templates")
        assert "nightly check" not in bob.content()
        assert bob.goto(f"{lab.url}/jobs/new?template={template_id}").status == 404
        cookie = next(c for c in other.cookies() if c["name"] == "hai_session")
        token = bob.evaluate("document.body.dataset.csrf")
        with httpx.Client(base_url=lab.url, cookies={"hai_session": cookie["value"]}) as h:
            gone = h.post(f"/jobs/templates/{template_id}/delete", data={"csrf_token": token})
            assert gone.status_code == 404
    finally:
        other.close()

    page.goto(f"{lab.url}/jobs/templates")
    page.get_by_role("button", name="Delete template nightly check").click()
    assert page.get_by_role("status").first.inner_text() == "Template deleted."
    assert page.get_by_role("cell", name="nightly check", exact=True).count() == 0


# -- the list -------------------------------------------------------------------------------------


def test_the_list_pages_newest_first_and_filters(lab: Platform, page: Any) -> None:
    key = api_key(lab, "bob")
    jobs = [submit_api(lab, key, command=["true"], name=f"sweep-{i}") for i in range(7)]
    gpu = submit_api(lab, key, command=["true"], name="on-cards", partition="gpu", gpus="1")
    for job in [*jobs, gpu]:
        wait_state(lab, key, job["id"], FINAL)
    sign_in(page, lab, "bob")
    page.goto(f"{lab.url}/jobs?per_page=5")
    links = page.get_by_role("link", name=re.compile(r"^Job \d+$"))
    first_page = [int(t) for t in links.all_inner_texts()]
    assert first_page == sorted(first_page, reverse=True) and len(first_page) == 5
    assert first_page[0] == gpu["id"]
    shot(page, "jobs-list")
    page.get_by_role("link", name="Older jobs").click()
    second_page = [int(t) for t in links.all_inner_texts()]
    assert second_page and max(second_page) < min(first_page)
    page.get_by_role("link", name="Newest jobs").click()
    assert [int(t) for t in links.all_inner_texts()] == first_page

    page.get_by_label("Name contains").fill("sweep-3")
    page.get_by_role("button", name="Filter").click()
    assert [int(t) for t in links.all_inner_texts()] == [jobs[3]["id"]]
    page.goto(f"{lab.url}/jobs")
    page.get_by_label("Partition", exact=True).select_option("gpu")
    page.get_by_role("button", name="Filter").click()
    assert [int(t) for t in links.all_inner_texts()] == [gpu["id"]]
    page.get_by_label("State", exact=True).select_option("running")
    page.get_by_role("button", name="Filter").click()
    assert "No jobs match these filters." in page.content()
    shot(page, "jobs-list-filtered")
    # a state nobody has is refused in words, and the list shown unfiltered
    page.goto(f"{lab.url}/jobs?state=sleeping")
    assert "Unknown state 'sleeping'" in page.get_by_role("alert").inner_text()


# -- one user never sees another's ----------------------------------------------------------------


def test_a_user_never_sees_another_users_jobs(lab: Platform, page: Any, browser: Any) -> None:
    bob_key = api_key(lab, "bob")
    secret = submit_api(lab, bob_key, command=["sleep", "120"], name="bobs-secret-run")
    wait_state(lab, bob_key, secret["id"], {"running"})
    sign_in(page, lab, "alice")
    page.goto(f"{lab.url}/jobs?everyone=1&per_page=200")  # not an admin: her own only
    assert "bobs-secret-run" not in page.content()
    assert page.get_by_role("columnheader", name="User").count() == 0
    for path in (f"/jobs/{secret['id']}", f"/jobs/new?from={secret['id']}"):
        response = page.goto(f"{lab.url}{path}")
        assert response.status == 404, path
        assert "bobs-secret-run" not in page.content()
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    token = page.evaluate("document.body.dataset.csrf")
    jar = {"hai_session": cookie["value"]}
    with httpx.Client(base_url=lab.url, cookies=jar, timeout=10) as h:
        for path in (f"/jobs/{secret['id']}/detail", f"/jobs/{secret['id']}/log/events"):
            r = h.get(path)
            assert r.status_code == 404 and "sleep" not in r.text, path
        cancel = h.post(f"/jobs/{secret['id']}/cancel", data={"csrf_token": token})
        assert cancel.status_code == 404
        # the API, with the same browser's cookie: the same answers
        assert h.get(f"/api/jobs/{secret['id']}").status_code == 404
        assert h.get(f"/api/jobs/{secret['id']}/logs").status_code == 404
        listed = h.get("/api/jobs", params={"all": "true"}).json()
        assert all(j["user"] == "alice" for j in listed)
    with lab.http(bob_key) as h:
        assert h.get(f"/api/jobs/{secret['id']}").json()["state"] == "running"  # untouched

    # an admin sees everyone's, with their owners, when asking for it
    admin = browser.new_context()
    try:
        root = admin.new_page()
        sign_in(root, lab, "root")
        root.goto(f"{lab.url}/jobs")
        assert "bobs-secret-run" not in root.content()  # own jobs by default
        root.get_by_label("Everyone's jobs").check()
        root.get_by_role("button", name="Filter").click()
        row = root.get_by_role("row").filter(has_text="bobs-secret-run")
        assert row.get_by_role("cell", name="bob", exact=True).is_visible()
        shot(root, "jobs-list-everyone")
        root.goto(f"{lab.url}/jobs/{secret['id']}")
        assert root.locator("#job-state").inner_text().strip() == "running"
        root.get_by_role("button", name="Cancel job").click()
        root.locator("#job-state", has_text="cancelled").wait_for(timeout=30_000)
    finally:
        admin.close()


# -- the log stream -------------------------------------------------------------------------------


def sse_texts(body: str) -> tuple[list[str], list[int], list[str]]:
    """(text of the unnamed events, their ids, names of the other events) of an SSE body."""
    texts, ids, named = [], [], []
    for block in body.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines or lines[0].startswith("retry:"):
            continue
        fields: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(": ")
            fields.setdefault(name, []).append(value)
        if "event" in fields:
            named.append(fields["event"][0])
        else:
            texts.append("\n".join(fields["data"]))
            ids.append(int(fields["id"][0]))
    return texts, ids, named


def test_the_log_stream_resumes_where_a_reconnecting_browser_left_off(
    lab: Platform, page: Any
) -> None:
    key = api_key(lab, "alice")
    script = "printf 'one\\r\\ntwo\\n'; printf 'caf\\xc3\\xa9 '; printf 'three\\n'"
    job = submit_api(lab, key, script=script, name="resume")
    wait_state(lab, key, job["id"], FINAL)
    sign_in(page, lab, "alice")
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    with httpx.Client(base_url=lab.url, cookies={"hai_session": cookie["value"]}) as h:
        whole = h.get(f"/jobs/{job['id']}/log/events")
        assert whole.headers["content-type"].startswith("text/event-stream")
        texts, ids, named = sse_texts(whole.text)
        assert "".join(texts) == "one\ntwo\ncafé three\n"
        assert named[0] == "state" and named[-1] == "end"
        raw = h.get(f"/api/jobs/{job['id']}/logs").content
        assert ids[-1] == len(raw)
        cut = raw.index(b"two")
        again = h.get(f"/jobs/{job['id']}/log/events", headers={"last-event-id": str(cut)})
        assert "".join(sse_texts(again.text)[0]) == "two\ncafé three\n"


def test_sse_events_keep_the_text_and_a_long_log_starts_at_a_line(tmp_path: Path) -> None:
    event = sse_event("a\r\nb\n\nc\rd", event_id=7).decode()
    assert event == "id: 7\ndata: a\ndata: b\ndata: \ndata: c\ndata: d\n\n"
    log = tmp_path / "output.log"
    log.write_bytes(b"x" * 100 + b"\n" + b"line\n" * (TAIL_BYTES // 5))
    start, skipped = start_offset(log, None, None)
    assert start == skipped and log.read_bytes()[start - 1 : start] == b"\n"
    assert log.stat().st_size - start <= TAIL_BYTES
    assert start_offset(log, "123", None) == (123, 0)  # a reconnect resumes exactly
    assert start_offset(tmp_path / "none.log", None, None) == (0, 0)


def test_pages_need_sign_in_and_posts_need_the_csrf_token(lab: Platform, page: Any) -> None:
    with httpx.Client(base_url=lab.url, follow_redirects=False) as h:
        for path in ("/jobs", "/jobs/new", "/jobs/templates", "/jobs/1", "/jobs/1/log/events"):
            r = h.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    key = api_key(lab, "alice")
    with lab.http(key) as h:
        before = len(h.get("/api/jobs").json())
    sign_in(page, lab, "alice")
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    with httpx.Client(base_url=lab.url, cookies={"hai_session": cookie["value"]}) as h:
        # what another site could make a signed-in browser post: refused, nothing submitted
        assert h.post("/jobs/new", data={"command": "true"}).status_code == 403
        assert h.post("/jobs/1/cancel").status_code == 403
    with lab.http(key) as h:
        assert len(h.get("/api/jobs").json()) == before


# -- on a real Slurm -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm_lab(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """A server with HAI_COMPUTE_BACKEND=slurm on the session's single-node Slurm, with alice,
    a Unix user there, in account `physics`."""
    p = Platform(
        tmp_path_factory.mktemp("jobs-slurm") / "home",
        HAI_SCHEDULER_INTERVAL="0.5",
        **slurm_cluster.platform_env("portal"),
    ).start()
    try:
        add_user(p, "alice", groups=("physics",))
        yield p
    finally:
        p.stop()


def test_on_slurm_a_form_job_runs_as_its_user_and_its_output_follows(
    slurm_lab: Platform, page: Any
) -> None:
    sign_in(page, slurm_lab, "alice")
    page.goto(f"{slurm_lab.url}/jobs/new")
    # the limits come from the cluster's policy (deploy/slurm/policy.toml)
    assert "MaxTRESPU cpu=64" in page.locator("#cpus-limit").inner_text()
    assert page.locator("#cpus-limit").get_by_text("This machine").count() == 0
    fill_form(page, partition="gpu", card_model="a800")
    assert "MaxTRESPU gres/gpu=4" in page.locator("#cards-limit").inner_text()
    fill_form(
        page,
        name="on-slurm",
        script="echo user=$(id -un) cards=$CUDA_VISIBLE_DEVICES\nsleep 3\necho done\n",
        cards="1",
        time="5",
    )
    page.get_by_role("button", name="Submit job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+\?done=submitted"))
    log = page.get_by_role("log")
    log.get_by_text("user=alice").wait_for(timeout=90_000)
    log.get_by_text("done").wait_for(timeout=60_000)
    page.locator("#job-state", has_text="completed").wait_for(timeout=60_000)
    details = page.locator("#job-detail").inner_text()
    assert "slurm · id " in details and "1 × gpu a800" in details
    assert re.search(r"user=alice cards=\d", log.inner_text()), log.inner_text()
    shot(page, "jobs-show-slurm")
    # a refusal on Slurm names the limit too
    page.goto(f"{slurm_lab.url}/jobs/new")
    fill_form(page, partition="gpu", qos="gpudebug")
    fill_form(page, command="true", time="1:00:00")
    page.get_by_role("button", name="Submit job").click()
    assert "the MaxWall of QOS 'gpudebug', 00:15:00" in page.get_by_role("alert").inner_text()


# -- the list's queries and the templates' service, on a database of their own -------------------


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)  # the real schema, by the migrations
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()


def people(db: Database) -> dict[str, Principal]:
    with db.session() as s:
        rows = [User(name="ann"), User(name="ben"), User(name="boss", role="admin")]
        s.add_all(rows)
        s.flush()
        return {u.name: Principal(0, u.id, u.name, u.role, frozenset()) for u in rows}


def add_jobs(db: Database, owner: Principal, names: list[str], **values: Any) -> list[int]:
    now = datetime.now(UTC)
    with db.session() as s:
        jobs = [
            Job(
                user_id=owner.user_id,
                name=name,
                partition=values.get("partition", "cpu"),
                qos="normal",
                time_limit=60,
                backend="test",  # no scheduler follows these
                state=values.get("state", "completed"),
                submitted_at=now,
            )
            for name in names
        ]
        s.add_all(jobs)
        s.flush()
        return [j.id for j in jobs]


def all_pages(db: Database, who: Principal, flt: JobFilter, size: int) -> list[list[int]]:
    pages, before = [], None
    while True:
        with db.session() as s:
            page = page_of_jobs(s, who, flt, before=before, limit=size)
        pages.append([r.job.id for r in page.rows])
        if page.older is None:
            return pages
        before = page.older


def every_id(db: Database, who: Principal, flt: JobFilter, size: int = 50) -> list[int]:
    return [i for page in all_pages(db, who, flt, size) for i in page]


def test_pages_of_jobs_are_newest_first_complete_and_only_the_callers(database: Database) -> None:
    who = people(database)
    mine = add_jobs(database, who["ann"], [f"run-{i}" for i in range(23)])
    theirs = add_jobs(database, who["ben"], ["other"] * 5, state="running")
    pages = all_pages(database, who["ann"], JobFilter(), 10)
    assert [len(p) for p in pages] == [10, 10, 3]
    assert [i for p in pages for i in p] == sorted(mine, reverse=True)
    # asking for everyone's is for admins: a user still gets their own
    assert every_id(database, who["ann"], JobFilter(everyone=True)) == mine[::-1]
    everyone = every_id(database, who["boss"], JobFilter(everyone=True))
    assert set(everyone) == set(mine) | set(theirs)
    running = every_id(database, who["boss"], JobFilter(everyone=True, state="active"))
    assert running == theirs[::-1]
    with database.session() as s:
        assert active_counts(s, who["ann"]) == {"pending": 0, "running": 0}
        assert active_counts(s, who["boss"], everyone=True)["running"] == 5
        with pytest.raises(PlatformError, match="Unknown state 'asleep'"):
            page_of_jobs(s, who["ann"], JobFilter(state="asleep"))


def test_a_name_filter_reads_a_bounded_window_and_goes_on_page_by_page(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hakutaku.compute.job_queries.SEARCH_WINDOW", 20)
    who = people(database)
    ids = add_jobs(
        database, who["ann"], [f"{'hit' if i % 9 == 0 else 'miss'}-{i}" for i in range(70)]
    )
    hits = [i for n, i in enumerate(ids) if n % 9 == 0]
    with database.session() as s:
        first = page_of_jobs(s, who["ann"], JobFilter(text="HIT"), limit=50)  # any case
    # the newest 20 jobs hold 2 hits; the page says where it stopped
    assert [r.job.id for r in first.rows] == hits[::-1][:2] and first.searched_to == ids[-20]
    found = every_id(database, who["ann"], JobFilter(text="hit"))
    assert found == hits[::-1]  # every hit once, in order, over the windows
    assert every_id(database, who["ann"], JobFilter(text="%")) == []  # literal %


def test_templates_are_saved_replaced_and_only_their_owners(database: Database) -> None:
    who = people(database)
    with database.session() as s:
        row, created = save_template(s, who["ann"], "  nightly   run ", {"cpus": "4", "x": "y"})
        assert created and row.name == "nightly run" and row.spec == {"cpus": "4"}
        again, created = save_template(s, who["ann"], "nightly run", {"cpus": "8"})
        assert not created and again.id == row.id and again.spec == {"cpus": "8"}
        save_template(s, who["ben"], "nightly run", {"cpus": "1"})  # his own, same name
        assert [t.name for t in list_templates(s, who["ben"])] == ["nightly run"]
        with pytest.raises(PlatformError, match="No job template"):
            get_template(s, who["ben"], row.id)
        with pytest.raises(PlatformError, match="No job template"):
            get_template(s, who["boss"], row.id)  # admins neither: a template is a draft
        with pytest.raises(PlatformError, match="No job template"):
            delete_template(s, who["ben"], row.id)
        with pytest.raises(PlatformError, match="Give the template a name"):
            save_template(s, who["ann"], "   ", {})
        assert delete_template(s, who["ann"], row.id) == "nightly run"
        assert list_templates(s, who["ann"]) == []

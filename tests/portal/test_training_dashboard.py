"""A `hai hep train --submit` run and its dashboard, in Chromium through the proxy: real
Pythia jets, a real PFN training as alice's local job, the epochs appearing as they finish;
bob gets 404; the Python call returns a working URL; and the refusals say what was wrong."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hakutaku import hep
from hakutaku.sdk.client import Client
from tests.portal.conftest import PASSWORD, add_user, shot, sign_in
from tests.support.apps import csrf_of, signed_in_client, stop_all_sessions, wait_running
from tests.support.processes import Platform, wait_until

EPOCHS = 8
# PFN on the 800 generated jets in batches of 16: about a second an epoch (0.5 s on a quiet
# machine), so the first epoch shows on the page well before the last one ends
QUICK = ["--model", "pfn", "--batch-size", "16", "--optimizer", "adamw", "--workers", "0"]


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(
        tmp_path_factory.mktemp("train-dash") / "home",
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
        HAI_LOCAL_CPUS="8",
        HAI_LOCAL_MEM_MB="32768",
    )
    p.start()
    try:
        add_user(p, "alice")
        add_user(p, "bob")
        yield p
    finally:
        stop_all_sessions(p)
        p.stop()


@pytest.fixture(scope="module")
def alice_key(portal: Platform) -> str:
    with portal.http() as h:
        r = h.post("/api/keys", json={"user": "alice"})
        assert r.status_code == 201, r.text
        return str(r.json()["key"])


@pytest.fixture(scope="module")
def alice(portal: Platform) -> httpx.Client:
    return signed_in_client(portal.url, "alice", PASSWORD)


@pytest.fixture(scope="module")
def jets(top_qcd_files: dict[str, list[Path]]) -> Path:
    (folder,) = {p.parent for p in top_qcd_files["train"]}
    return folder


@pytest.fixture(scope="module")
def held_out(top_qcd_files: dict[str, list[Path]]) -> Path:
    (folder,) = {p.parent for p in top_qcd_files["test"]}
    return folder


def _session_id(portal: Platform, url: str) -> str:
    found = re.fullmatch(re.escape(portal.url) + r"/apps/([0-9a-f]+)/", url)
    assert found, url
    return found.group(1)


def test_submitted_training_shows_its_epochs_as_they_finish(
    portal: Platform, page: Any, alice: httpx.Client, alice_key: str, jets: Path, held_out: Path
) -> None:
    env = {**os.environ, "HAI_URL": portal.url, "HAI_API_KEY": alice_key}
    run = "runs/pfn-dashboard"
    argv = [sys.executable, "-m", "hakutaku", "hep", "train", "--submit", *QUICK]
    argv += ["--epochs", str(EPOCHS), "--out", run, "--data", str(jets)]
    argv += ["--val-data", str(held_out)]  # then the job evaluates on it: the ROC
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    session_id = _session_id(portal, url)
    job_id = int(re.search(r"job (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    job = alice.get(f"/api/jobs/{job_id}").json()
    assert f"--out {run}; code=$?" in job["script"] and "--submit" not in job["script"]

    wait_running(portal, alice, session_id)
    sign_in(page, portal, "alice")
    page.goto(url)
    log = portal.home / "jobs" / str(job_id) / "output.log"

    def on_the_page(selector: str) -> bool:
        if page.locator(selector).count() > 0:
            return True
        state = alice.get(f"/api/jobs/{job_id}").json()["state"]
        if state in ("failed", "cancelled", "timeout"):
            raise AssertionError(f"the training {state} before {selector} showed: {log}")
        return False

    wait_until(lambda: on_the_page("#epochs tr[data-epoch='1']"), 180, "epoch 1 on the page")
    shot(page, "apps-training-dashboard-epoch1")
    wait_until(lambda: on_the_page("#state[data-state='finished']"), 180, "the run's end")
    wait_until(
        lambda: alice.get(f"/api/jobs/{job_id}").json()["state"] == "completed",
        120,
        f"training job {job_id}",
    )
    rows = page.locator("#epochs tbody tr")
    assert rows.count() == EPOCHS
    # the epochs came in as they finished, not all at once at the end: each row says which of
    # the page's polls brought it and how the run stood then (the page's own record, so no
    # race with this test's looking)
    polls = [int(rows.nth(i).get_attribute("data-poll") or 0) for i in range(EPOCHS)]
    runs = [rows.nth(i).get_attribute("data-run") for i in range(EPOCHS)]
    assert polls == sorted(polls) and len(set(polls)) > 1, polls
    assert runs[0] == "running" and runs[-1] == "finished", runs
    # the table shows what the training wrote, epoch by epoch
    history = json.loads((Path(job["workdir"]) / run / "metrics.json").read_text())
    for i, row in enumerate(history):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert cells[0] == str(i + 1)
        assert cells[1] == f"{row['train_loss']:.4f}"
        assert cells[4] == f"{row['val_auc']:.4f}"
    assert page.locator("#loss-chart canvas").count() == 1
    assert page.locator("#score-chart canvas").count() == 1
    # the ROC of the evaluation on the held-out jets, once the job has made it
    roc = page.locator("#roc img")
    roc.wait_for(timeout=60_000)
    wait_until(lambda: roc.evaluate("i => i.complete && i.naturalWidth > 0"), 30, "the ROC")
    shot(page, "apps-training-dashboard-finished")

    # a dashboard on a finished run, from the portal's Launch form: the same epochs
    page.goto(f"{portal.url}/sessions")
    page.get_by_label("App").select_option("training")
    page.get_by_label("Run folder").fill(run)
    page.get_by_role("button", name="Launch").click()
    card = page.locator(
        f".session-card[data-phase='running']:not([data-session='{session_id}'])"
    ).first
    card.wait_for(timeout=120_000)
    page.goto(f"{portal.url}/apps/{card.get_attribute('data-session')}/")
    page.locator("#state[data-state='finished']").wait_for(timeout=60_000)
    assert page.locator("#epochs tbody tr").count() == EPOCHS

    # bob: 404 on alice's dashboard and on its data, as for a session that does not exist
    bob = signed_in_client(portal.url, "bob", PASSWORD)
    for path in ("", "status.json", "roc.png"):
        assert bob.get(f"/apps/{session_id}/{path}").status_code == 404


def test_python_submit_training_returns_the_dashboard_url(
    portal: Platform, alice: httpx.Client, alice_key: str, jets: Path
) -> None:
    with Client(portal.url, alice_key) as client:
        url = hep.submit_training(
            "pfn",
            data=jets,
            epochs=1,
            out="runs/from-python",
            client=client,
            batch_size=64,
            optimizer="adamw",
            workers=0,
            max_jets=320,
        )
        session_id = _session_id(portal, url)
        assert client.apps.get(session_id)["app"] == "training"
    wait_running(portal, alice, session_id)

    def finished() -> bool:
        status = alice.get(f"/apps/{session_id}/status.json").json()
        return bool(status["finished"])

    wait_until(finished, 180, "the Python-submitted training's one epoch")
    status = alice.get(f"/apps/{session_id}/status.json").json()
    assert status["model"] == "pfn" and len(status["epochs"]) == 1


def test_a_failed_training_reads_failed_on_its_dashboard(
    portal: Platform, page: Any, alice: httpx.Client, alice_key: str
) -> None:
    with Client(portal.url, alice_key) as client:
        found = client.apps.submit_training(
            ["--model", "pfn", "--data", "no-such-folder"], out="runs/doomed"
        )
    session_id = _session_id(portal, found["url"])
    wait_running(portal, alice, session_id)
    sign_in(page, portal, "alice")
    page.goto(found["url"])
    page.locator("#state[data-state='failed']").wait_for(timeout=120_000)
    assert "exit code 2, in train" in page.locator("#state").inner_text()
    shot(page, "apps-training-dashboard-failed")
    job = alice.get(f"/api/jobs/{found['job']['id']}").json()
    assert job["state"] == "failed", job


def test_refusals_say_what_was_wrong(portal: Platform, alice: httpx.Client) -> None:
    headers = {"x-csrf-token": csrf_of(alice)}
    r = alice.post("/api/apps/sessions", json={"app": "training"}, headers=headers)
    assert r.status_code == 400 and "works on a folder" in r.text, r.text
    body = {"args": ["--model", "pfn", "--out", "elsewhere"], "out": "runs/x"}
    r = alice.post("/api/apps/trainings", json=body, headers=headers)
    assert r.status_code == 400 and "--out is set by the platform" in r.text, r.text
    # resources without --submit: the local training would ignore them, so it is refused
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hakutaku",
            "hep",
            "train",
            "--model",
            "pfn",
            "--out",
            "r",
            "--data",
            "x",
            "--gpus",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "for --submit" in done.stderr, done.stderr

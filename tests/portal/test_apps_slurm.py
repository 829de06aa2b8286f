"""Interactive apps on the real Slurm (deploy/slurm), in Chromium: Jupyter Lab launched from
the portal's form as alice's Slurm job on the cpu partition, opened with Connect, a cell
`6*7` run through the proxy, then stopped from its card (which then says cancelled); and a
`hai hep train --submit` run on Slurm whose dashboard shows its epochs, then closes itself
(its card: completed) a grace time after the training's job ended."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.portal.conftest import PASSWORD, shot, sign_in
from tests.support.apps import platform_on_slurm, run_cell, signed_in_client, wait_running
from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster

# a Jupyter job on Slurm: sbatch, the scheduler's next pass, then Lab's own start as alice
LAUNCH_TIMEOUT_MS = 240_000
EPOCHS = 4
# PFN on the 800 generated jets in batches of 16 (as tests/portal/test_training_dashboard.py)
QUICK = ["--model", "pfn", "--batch-size", "16", "--optimizer", "adamw", "--workers", "0"]
GRACE_MINUTES = 0.1  # a submitted training's dashboard closes 6 s after its training's job


@pytest.fixture(scope="module")
def on_slurm(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("portal-apps-slurm") / "home"
    with platform_on_slurm(
        slurm_cluster, home, HAI_APPS_DASHBOARD_GRACE_MINUTES=str(GRACE_MINUTES)
    ) as platform:
        yield platform


@pytest.fixture(scope="module")
def alice(on_slurm: Platform) -> httpx.Client:
    return signed_in_client(on_slurm.url, "alice", PASSWORD)


def test_jupyter_as_a_slurm_job_from_the_launch_form(
    on_slurm: Platform, page: Any, alice: httpx.Client
) -> None:
    sign_in(page, on_slurm, "alice")
    page.goto(f"{on_slurm.url}/sessions")
    page.get_by_label("App").select_option("jupyter")
    page.get_by_label("Memory").fill("2G")
    page.get_by_label("Time").fill("0:10:00")
    page.get_by_label("Partition").fill("cpu")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(f"{on_slurm.url}/sessions")
    card = page.locator(".session-card").first
    session_id = card.get_attribute("data-session")
    assert session_id
    card = page.locator(f".session-card[data-session='{session_id}']")
    running = page.locator(f".session-card[data-session='{session_id}'][data-phase='running']")
    try:
        running.wait_for(timeout=LAUNCH_TIMEOUT_MS)
    finally:
        shot(page, "apps-slurm-jupyter-card")
    # a Slurm job of alice's, on the partition and QOS asked for, on the node Slurm chose
    info = alice.get(f"/api/apps/sessions/{session_id}").json()
    job = alice.get(f"/api/jobs/{info['job_id']}").json()
    assert job["backend"] == "slurm" and job["external_id"], job
    assert job["user"] == "alice" and job["partition"] == "cpu", job
    assert job["qos"] == "cpunormal", job
    assert "cpu/cpunormal" in card.inner_text()
    assert info["node"] and info["node"] in card.inner_text()

    # Connect opens the app in a new tab, through the proxy
    with page.context.expect_page() as opened:
        card.get_by_role("button", name="Connect").click()  # a link styled as a button
    lab = opened.value
    try:
        assert run_cell(lab, "6*7") == "42"
        assert lab.url.startswith(f"{on_slurm.url}/apps/{session_id}/")
    finally:
        shot(lab, "apps-slurm-jupyter-42")

    # Stop on the card cancels the Slurm job: the card says cancelled, never completed
    # (the cards are swapped in every 2 s: on a loaded machine a button is never "stable" for
    # long, so the click does not wait for that; it still retries if the card is replaced)
    card.get_by_role("button", name="Stop").click(force=True, timeout=60_000)
    ended = page.locator(f".session-card[data-session='{session_id}'][data-phase='ended']")
    ended.wait_for(timeout=60_000)
    why = ended.locator(".why")
    assert why.get_attribute("data-ended") == "cancelled"
    assert "cancelled" in why.inner_text() and "completed" not in why.inner_text()
    shot(page, "apps-slurm-card-cancelled")
    wait_until(
        lambda: alice.get(f"/api/jobs/{info['job_id']}").json()["state"] == "cancelled",
        60,
        "the Slurm job to read cancelled",
    )
    # and the open tab's next page is the proxy's "Session ended"
    lab.goto(f"{on_slurm.url}/apps/{session_id}/lab")
    assert lab.locator("h1").inner_text() == "Session ended"
    assert "cancelled" in lab.locator("main p").first.inner_text()
    shot(lab, "apps-slurm-session-ended")


@pytest.fixture(scope="module")
def alice_key(on_slurm: Platform) -> str:
    with on_slurm.http() as h:
        r = h.post("/api/keys", json={"user": "alice"})
        assert r.status_code == 201, r.text
        return str(r.json()["key"])


@pytest.fixture(scope="module")
def jets_for_alice(slurm_cluster: SlurmCluster, top_qcd_files: dict[str, list[Path]]) -> Path:
    """The generated jets where alice's Slurm jobs can read them (the test's own temporary
    folders are root's), as on a cluster's shared storage."""
    folder = Path(tempfile.mkdtemp(prefix="jets-", dir=slurm_cluster.jobs_dir))
    folder.chmod(0o755)
    for path in top_qcd_files["train"]:
        shutil.copyfile(path, folder / path.name)
        (folder / path.name).chmod(0o644)
    return folder


def test_a_training_on_slurm_shows_its_epochs_then_its_dashboard_closes(
    on_slurm: Platform, page: Any, alice: httpx.Client, alice_key: str, jets_for_alice: Path
) -> None:
    env = {**os.environ, "HAI_URL": on_slurm.url, "HAI_API_KEY": alice_key}
    run = "runs/pfn-on-slurm"
    argv = [sys.executable, "-m", "hakutaku", "hep", "train", "--submit", *QUICK]
    argv += ["--epochs", str(EPOCHS), "--out", run, "--data", str(jets_for_alice)]
    argv += ["--mem", "2G", "--time", "0:10:00", "--partition", "cpu"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    found = re.fullmatch(re.escape(on_slurm.url) + r"/apps/([0-9a-f]+)/", url)
    assert found, url
    session_id = found.group(1)
    job_id = int(re.search(r"job (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    job = alice.get(f"/api/jobs/{job_id}").json()
    assert job["backend"] == "slurm" and job["user"] == "alice" and job["partition"] == "cpu"
    dashboard_job = alice.get(f"/api/apps/sessions/{session_id}").json()["job_id"]
    assert alice.get(f"/api/jobs/{dashboard_job}").json()["backend"] == "slurm"

    sign_in(page, on_slurm, "alice")
    wait_running(on_slurm, alice, session_id, timeout=180)
    page.goto(url)
    log = Path(job["log_path"] or "")

    def on_the_page(selector: str) -> bool:
        if page.locator(selector).count() > 0:
            return True
        state = alice.get(f"/api/jobs/{job_id}").json()["state"]
        if state in ("failed", "cancelled", "timeout"):
            raise AssertionError(f"the training {state} before {selector} showed: {log}")
        return False

    wait_until(lambda: on_the_page("#epochs tr[data-epoch='1']"), 240, "epoch 1 on the page")
    wait_until(lambda: on_the_page("#state[data-state='finished']"), 240, "the run's end")
    shot(page, "apps-slurm-training-dashboard")
    rows = page.locator("#epochs tbody tr")
    assert rows.count() == EPOCHS
    history = json.loads((Path(job["workdir"]) / run / "metrics.json").read_text())
    assert len(history) == EPOCHS
    for i, row in enumerate(history):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert cells[0] == str(i + 1) and cells[1] == f"{row['train_loss']:.4f}"
    polls = [int(rows.nth(i).get_attribute("data-poll") or 0) for i in range(EPOCHS)]
    assert polls == sorted(polls), polls

    # the training's job completes; a grace time later its dashboard closes by itself
    wait_until(
        lambda: alice.get(f"/api/jobs/{job_id}").json()["state"] == "completed",
        120,
        f"training job {job_id}",
    )
    cards = page.context.new_page()
    cards.goto(f"{on_slurm.url}/sessions")
    ended = cards.locator(f".session-card[data-session='{session_id}'][data-phase='ended']")
    ended.wait_for(timeout=120_000)
    assert ended.locator(".why").get_attribute("data-ended") == "completed"
    shot(cards, "apps-slurm-training-dashboard-card-completed")
    assert alice.get(f"/api/jobs/{dashboard_job}").json()["state"] == "completed"
    # the open dashboard keeps its table and says it has closed
    page.locator("#state[data-closed='true']").wait_for(timeout=30_000)
    assert page.locator("#epochs tbody tr").count() == EPOCHS
    shot(page, "apps-slurm-training-dashboard-closed")

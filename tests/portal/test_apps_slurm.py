"""Interactive apps on the real Slurm (deploy/slurm), in Chromium: Jupyter Lab launched from
the portal's form as alice's Slurm job on the cpu partition, opened with Connect, a cell
`6*7` run through the proxy, then stopped from its card (which then says cancelled)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.portal.conftest import PASSWORD, shot, sign_in
from tests.support.apps import platform_on_slurm, signed_in_client
from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster

# a Jupyter job on Slurm: sbatch, the scheduler's next pass, then Lab's own start as alice
LAUNCH_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def on_slurm(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("portal-apps-slurm") / "home"
    with platform_on_slurm(slurm_cluster, home) as platform:
        yield platform


@pytest.fixture(scope="module")
def alice(on_slurm: Platform) -> httpx.Client:
    return signed_in_client(on_slurm.url, "alice", PASSWORD)


def run_cell(lab: Any, code: str) -> str:
    """Open a new notebook in Jupyter Lab's page, run one cell of `code`, return its output."""
    lab.locator(".jp-LauncherCard[data-category='Notebook']").first.click(timeout=90_000)
    editor = lab.locator(".jp-Notebook .jp-Cell .cm-content").first
    editor.wait_for(timeout=90_000)
    lab.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
    editor.click()
    lab.keyboard.type(code)
    output = lab.locator(".jp-OutputArea-output").first

    def ran() -> bool:
        # Lab ignores a run while its kernel connection is still being set up (after the
        # status bar says Idle, on a loaded machine): run the same cell again until it runs
        editor.click()
        lab.keyboard.press("Control+Enter")
        try:
            output.wait_for(timeout=5_000)
        except Exception:
            return False
        return True

    wait_until(ran, 90, "the cell's output through the proxy", interval=0.5)
    return str(output.inner_text()).strip()


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
    card.get_by_role("button", name="Stop").click()
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

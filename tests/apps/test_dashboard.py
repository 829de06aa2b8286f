"""The training dashboard's reading of a run folder: before it exists, mid-run, finished; and
the end of a submitted training's dashboard a grace time after its job's end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hakutaku.apps.dashboard import read_run, run_ended
from hakutaku.apps.spec import TRAINING
from hakutaku.apps.training import job_script
from tests.support.processes import free_port, wait_until


def test_a_folder_not_made_yet_reads_as_waiting(tmp_path: Path) -> None:
    status = read_run(tmp_path / "runs" / "not-yet")
    assert status["exists"] is False
    assert status["epochs"] == []
    assert status["finished"] is False


def test_epochs_so_far_and_the_end(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"model": "pfn", "epochs": 2, "label_names": ["QCD", "Tbqq"]})
    )
    row = {"epoch": 0, "train_loss": 0.6, "val_loss": 0.5, "val_accuracy": 0.8,
           "val_auc": 0.9, "lr": 1e-3, "seconds": 2.0, "jets_per_second": 300.0}  # fmt: skip
    (tmp_path / "metrics.json").write_text(json.dumps([row]))
    status = read_run(tmp_path)
    assert (status["model"], status["classes"], status["epochs_total"]) == (
        "pfn",
        ["QCD", "Tbqq"],
        2,
    )
    assert [e["val_auc"] for e in status["epochs"]] == [0.9]
    assert status["finished"] is False and status["roc"] is None
    # an AUC on a one-class validation split is NaN, which JSON cannot carry: null
    (tmp_path / "metrics.json").write_text(
        json.dumps([row, {**row, "epoch": 1, "val_auc": float("nan")}])
    )
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "roc.png").write_bytes(b"\x89PNG")
    status = read_run(tmp_path)
    assert [e["val_auc"] for e in status["epochs"]] == [0.9, None]
    assert status["finished"] is True
    assert status["roc"] == "evaluation/roc.png"


def test_a_half_written_metrics_file_reads_as_no_rows(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text('[{"epoch": 0, "train_lo')
    assert read_run(tmp_path)["epochs"] == []


def test_the_dashboard_app_needs_a_folder() -> None:
    assert TRAINING.needs_folder
    _, env = TRAINING.render(
        {
            "python": "py",
            "host": "h",
            "port": "1",
            "base_url": "/apps/x/",
            "secret": "s",
            "workdir": "/home/a",
            "folder": "runs/r",
        }
    )
    assert env["HAI_APP_FOLDER"] == "runs/r"


def test_how_a_submitted_job_ended(tmp_path: Path) -> None:
    assert read_run(tmp_path)["job_end"] is None
    (tmp_path / "job-end.json").write_text('{"exit_code": 2, "step": "train"}\n')
    assert read_run(tmp_path)["job_end"] == {"exit_code": 2, "step": "train"}


def test_a_job_script_records_which_job_it_was(tmp_path: Path) -> None:
    script = job_script([("train", ["true"])], str(tmp_path / "run"))
    done = subprocess.run(
        ["bash", "-c", script], env={**os.environ, "HAI_JOB_ID": "41"}, timeout=30, check=False
    )
    assert done.returncode == 0
    assert run_ended(tmp_path / "run", "41") and not run_ended(tmp_path / "run", "4")
    assert read_run(tmp_path / "run")["job_end"] == {"exit_code": 0, "step": "train", "job": "41"}


def _dashboard(folder: Path, **env: str) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    port = free_port()
    secret = "s3cret-for-the-test"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hakutaku.apps.dashboard"],
        env={
            **os.environ,
            "HAI_APP_PORT": str(port),
            "HAI_APP_BASE_URL": "/apps/abc/",
            "HAI_APP_SECRET": secret,
            "HAI_APP_FOLDER": str(folder),
            **env,
        },
    )
    url = f"http://127.0.0.1:{port}/apps/abc/"
    headers = {"authorization": f"token {secret}"}

    def up() -> bool:
        try:
            return httpx.get(url + "healthz", headers=headers, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, 30, "the dashboard")
    return proc, url, headers


def test_a_followed_jobs_end_closes_the_dashboard_after_the_grace(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    # an earlier job's record in the same folder (as a --resume leaves until its job starts)
    (run / "job-end.json").write_text('{"exit_code": 0, "step": "train", "job": "6"}\n')
    proc, url, headers = _dashboard(run, HAI_APP_FOLLOWS_JOB="7", HAI_APP_END_GRACE="1")
    try:
        # not its job's end: it keeps serving, past the grace and a few looks at the folder
        for _ in range(3):
            assert proc.poll() is None
            assert httpx.get(url + "status.json", headers=headers).status_code == 200
            time.sleep(1)
        (run / "job-end.json").write_text('{"exit_code": 0, "step": "train", "job": "7"}\n')
        # its job's end: it serves through the grace, then exits cleanly (the job completes)
        assert httpx.get(url + "status.json", headers=headers).json()["job_end"]["job"] == "7"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


def test_a_dashboard_that_follows_no_job_stays(tmp_path: Path) -> None:
    (tmp_path / "job-end.json").write_text('{"exit_code": 0, "step": "train", "job": "7"}\n')
    proc, url, headers = _dashboard(tmp_path, HAI_APP_END_GRACE="1")
    try:
        time.sleep(3)  # longer than the grace: no followed job, no end
        assert proc.poll() is None
        assert httpx.get(url + "status.json", headers=headers).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)

"""The training dashboard's reading of a run folder: before it exists, mid-run, finished."""

from __future__ import annotations

import json
from pathlib import Path

from hakutaku.apps.dashboard import read_run
from hakutaku.apps.spec import TRAINING


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

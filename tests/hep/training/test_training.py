"""Training and evaluation on real generated jets, and the published ParticleNet weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hakutaku import hub
from hakutaku.hep.formats import read
from hakutaku.hep.metrics import auc, signal_vs_background
from hakutaku.hep.training import TrainConfig, evaluate, predict, to_tensors, train

PRETRAINED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "jetclass-pretrained"


def test_short_training_separates_top_from_qcd(
    trained_pfn: Path, top_qcd_files: dict[str, list[Path]]
) -> None:
    for name in ("model.pt", "config.json", "checkpoint.pt", "metrics.csv", "metrics.json"):
        assert (trained_pfn / name).is_file(), name
    history = json.loads((trained_pfn / "metrics.json").read_text())
    assert len(history) == 12
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    held_out = read([str(p) for p in top_qcd_files["test"]])
    result = evaluate(trained_pfn, held_out, trained_pfn / "eval")
    assert result["classes"] == ["QCD", "Tbqq"]
    assert result["auc"] >= 0.90, result
    assert result["rejection_at_50"] > 5
    for name in ("metrics.json", "scores.npz", "roc.png"):
        assert (trained_pfn / "eval" / name).is_file(), name
    scores = np.load(trained_pfn / "eval" / "scores.npz")
    assert scores["probabilities"].shape == (300, 2)


def test_resume_continues_where_it_stopped(
    top_qcd_files: dict[str, list[Path]], tmp_path: Path
) -> None:
    data = read([str(p) for p in top_qcd_files["test"]])
    cfg = TrainConfig(model="pfn", epochs=2, batch_size=64, optimizer="adamw", seed=3)
    first = train(cfg, data, tmp_path, progress=False)
    cfg.epochs = 3
    resumed = train(cfg, data, tmp_path, resume=True, progress=False)
    assert [h.epoch for h in resumed] == [0, 1, 2]
    assert resumed[:2] == first


def test_cli_train_and_evaluate(top_qcd_files: dict[str, list[Path]], tmp_path: Path) -> None:
    data = [arg for p in top_qcd_files["test"] for arg in ("--data", str(p))]
    run = tmp_path / "run"
    trained = subprocess.run(
        [
            sys.executable,
            "-m",
            "hakutaku",
            "hep",
            "train",
            "--model",
            "pfn",
            *data,
            "--epochs",
            "1",
            "--out",
            str(run),
            "--optimizer",
            "adamw",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr
    assert "epoch 1:" in trained.stderr
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "hakutaku",
            "hep",
            "evaluate",
            "--model-dir",
            str(run),
            *data,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert 0.0 <= json.loads(evaluated.stdout)["auc"] <= 1.0
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "hakutaku",
            "hep",
            "train",
            "--model",
            "pfn",
            "--data",
            str(tmp_path / "nope.root"),
            "--out",
            str(run),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no such data file" in missing.stderr


@pytest.mark.skipif(
    not (PRETRAINED / "ParticleNet_kin.pt").exists(),
    reason=f"the published checkpoints are not at {PRETRAINED} (shared/data of the project)",
)
def test_published_particlenet_tags_generated_tops_without_training(
    top_qcd_files: dict[str, list[Path]],
) -> None:
    model = hub.load(
        "particlenet", weights=PRETRAINED / "ParticleNet_kin.pt", features="kin", num_classes=10
    )
    assert model.config["architecture"] == "particlenet"
    batch = read([str(p) for p in top_qcd_files["train"]])  # JetClass labels: QCD=0, Tbqq=8
    batch = batch.select(np.arange(len(batch)) % 4 == 0)  # 200 jets keep the test short
    probs, _ = predict(model, to_tensors(batch, "kin", 128), 100, torch.device("cpu"))
    score = signal_vs_background(probs, batch.label_names.index("Tbqq"), 0)
    is_top = batch.labels == batch.label_names.index("Tbqq")
    assert 50 < is_top.sum() < 150
    assert auc(score, is_top) >= 0.98

"""Training and evaluation streamed from the files (the default for files), on real jets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hakutaku.hep.formats import read
from hakutaku.hep.training import TrainConfig, evaluate, train


def test_training_through_the_stream_separates_top_from_qcd(
    top_qcd_files: dict[str, list[Path]], tmp_path: Path
) -> None:
    # The in-memory test's recipe (tests/conftest.py: trained_pfn), streamed by one worker.
    cfg = TrainConfig(model="pfn", epochs=12, batch_size=64, optimizer="adamw", seed=1,
                      val_fraction=0.25, num_workers=1, shuffle_buffer=300)  # fmt: skip
    history = train(cfg, top_qcd_files["train"], tmp_path, progress=False)
    assert len(history) == 12 and history[-1].train_loss < history[0].train_loss
    assert np.isfinite(history[-1].val_auc)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["label_names"] == ["QCD", "Tbqq"] and len(saved["data"]) == 4
    assert saved["num_workers"] == 1 and saved["shuffle_buffer"] == 300

    streamed = evaluate(tmp_path, top_qcd_files["test"], tmp_path / "eval", num_workers=2)
    assert streamed["auc"] >= 0.90, streamed
    assert streamed["n_jets"] == 300 and streamed["rejection_at_50"] > 5
    scores = np.load(tmp_path / "eval" / "scores.npz")
    # the scores come back in file order, whichever worker read them
    np.testing.assert_array_equal(scores["file_index"], np.repeat(np.arange(4), 75))
    np.testing.assert_array_equal(scores["entry"], np.tile(np.arange(75), 4))
    # the same model on the same jets in memory: the same scores
    in_memory = evaluate(tmp_path, read([str(p) for p in top_qcd_files["test"]]), tmp_path / "m")
    memory_scores = np.load(tmp_path / "m" / "scores.npz")
    np.testing.assert_allclose(memory_scores["probabilities"], scores["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(memory_scores["labels"], scores["labels"])
    assert abs(in_memory["auc"] - streamed["auc"]) < 1e-6


def test_streamed_runs_repeat_and_resume(
    top_qcd_files: dict[str, list[Path]], tmp_path: Path
) -> None:
    def run(out: Path, epochs: int, resume: bool = False) -> list[float]:
        cfg = TrainConfig(model="pfn", epochs=epochs, batch_size=64, optimizer="adamw", seed=4,
                          num_workers=1, shuffle_buffer=200)  # fmt: skip
        rows = train(cfg, top_qcd_files["train"], out, max_jets=320, resume=resume,
                     progress=False)  # fmt: skip
        return [r.train_loss for r in rows] + [r.val_loss for r in rows]

    first = run(tmp_path / "a", 2)
    np.testing.assert_allclose(run(tmp_path / "b", 2), first, rtol=1e-5)  # same seed, same run
    resumed = run(tmp_path / "a", 3, resume=True)
    assert len(resumed) == 6 and resumed[:2] == first[:2]


def test_separate_validation_files(top_qcd_files: dict[str, list[Path]], tmp_path: Path) -> None:
    cfg = TrainConfig(model="pfn", epochs=1, batch_size=64, optimizer="adamw", num_workers=0)
    history = train(cfg, top_qcd_files["train"], tmp_path, val_data=top_qcd_files["test"],
                    max_jets=200, progress=False)  # fmt: skip
    assert np.isfinite(history[0].val_auc)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert len(saved["val_data"]) == 4

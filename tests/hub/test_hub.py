"""The hub: architectures, weights register → list → load → predict, datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hakutaku import hub
from hakutaku.hep.formats import read
from hakutaku.hep.metrics import auc
from hakutaku.hep.training import TrainConfig, predict, to_tensors
from hakutaku.hub.store import FolderHub


@pytest.fixture
def folder(tmp_path: Path) -> FolderHub:
    return FolderHub(tmp_path / "hub")


def test_builtin_architectures_build_untrained(folder: FolderHub) -> None:
    assert {"pfn", "pcnn", "particlenet", "part"} <= set(hub.list(hub=folder))
    model = hub.load("part", features="full", num_classes=10, hub=folder)
    assert model.config == {"architecture": "part", "features": "full", "num_classes": 10}
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(2.14e6, rel=0.01)
    assert "particle" in hub.docs("part", hub=folder).lower()
    with pytest.raises(LookupError, match="unknown architecture"):
        hub.load("resnet", hub=folder)


def test_register_list_load_predict(
    folder: FolderHub, trained_pfn: Path, top_qcd_files: dict[str, list[Path]]
) -> None:
    cfg = TrainConfig.load(trained_pfn / "config.json")
    card = hub.register_weights(
        "pfn",
        trained_pfn / "model.pt",
        version="top-v1",
        config={"features": cfg.n_features, "num_classes": 2},
        training_data="generated top vs QCD, Pythia 8 (no MPI), 800 jets",
        metrics={"val_auc": 0.96},
        licence="CC-BY-4.0",
        author="tests",
        hub=folder,
    )
    assert len(card.sha256) == 64 and Path(card.file).is_file()
    assert [c.version for c in hub.list_weights("pfn", hub=folder)] == ["top-v1"]
    with pytest.raises(ValueError, match="already exist"):
        hub.register_weights(
            "pfn",
            trained_pfn / "model.pt",
            version="top-v1",
            config={"features": cfg.n_features, "num_classes": 2},
            hub=folder,
        )
    with pytest.raises(RuntimeError):  # weights that do not fit the declared config
        hub.register_weights(
            "pfn",
            trained_pfn / "model.pt",
            version="bad",
            config={"features": 17, "num_classes": 10},
            hub=folder,
        )

    model = hub.load("pfn", weights="latest", hub=folder)
    assert model.config["weights"] == "pfn/top-v1" and not model.training
    test = read([str(p) for p in top_qcd_files["test"]], label_names=("QCD", "Tbqq"))
    probs, _ = predict(model, to_tensors(test, "kin", 128), 128, torch.device("cpu"))
    assert probs.shape == (len(test), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert auc(probs[:, 1], test.labels == 1) > 0.85


def test_datasets(folder: FolderHub, top_qcd_files: dict[str, list[Path]]) -> None:
    card = hub.datasets.register(
        "toptag-gen",
        {"train": top_qcd_files["train"], "test": top_qcd_files["test"]},
        version="1",
        description="Generated top vs QCD jets",
        licence="CC-BY-4.0",
        citation="this test",
        format="jetclass-root",
        splits={"train": 800, "test": 300},
        hub=folder,
    )
    assert card.size_bytes == sum(
        p.stat().st_size for p in top_qcd_files["train"] + top_qcd_files["test"]
    )
    got = hub.datasets.get("toptag-gen", hub=folder)
    assert got.splits == {"train": 800, "test": 300}
    assert {f.split for f in got.files} == {"train", "test"}
    assert hub.datasets.verify(got) == []
    assert [d.name for d in hub.datasets.list(hub=folder)] == ["toptag-gen"]
    with pytest.raises(LookupError):
        hub.datasets.get("nothing", hub=folder)

"""A trained tagger served by a real worker and called with numpy through the gateway."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.support.processes import Platform

from hakutaku.hep.formats import read
from hakutaku.hep.metrics import auc

TAGGER = "hakutaku.workers.backends.jet_tagger:JetTagger"


def test_tagger_predicts_through_the_gateway(
    platform: Platform, trained_pfn: Path, top_qcd_files: dict[str, list[Path]]
) -> None:
    platform.start_worker(TAGGER, name="top-tagger", env={"HAI_TAGGER_DIR": str(trained_pfn)})
    tagger = platform.client().remote_model("top-tagger")
    assert tagger.classes() == ["QCD", "Tbqq"]
    test = read([str(p) for p in top_qcd_files["test"]], label_names=("QCD", "Tbqq"))
    p4 = np.stack(
        [test.padded(k, 128) for k in ("part_px", "part_py", "part_pz", "part_energy")], axis=-1
    ).astype(np.float32)
    probs = tagger.predict(p4)
    assert isinstance(probs, np.ndarray) and probs.shape == (len(test), 2)
    assert probs.dtype == np.float32
    assert auc(probs[:, 1], test.labels == 1) > 0.85
    with platform.http() as h:
        bad = h.post("/v1/models/top-tagger/predict", json={"jets": [[1.0, 2.0, 3.0]]})
    assert bad.status_code == 400
    assert "(n_jets, n_particles, 4)" in bad.json()["error"]["message"]

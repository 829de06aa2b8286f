"""A trained jet tagger served as a remote model: `predict(jets)` → class probabilities.

    HAI_TAGGER_DIR=runs/top-particlenet hai worker \
        hakutaku.workers.backends.jet_tagger:JetTagger --name top-tagger

`HAI_TAGGER_DIR` is a directory written by `hai hep train` (config.json + model.pt). The name
defaults to `jet-tagger` (`HAI_TAGGER_NAME`). Calls take zero-padded constituents — numpy
arrays over msgpack from the SDK:

    tagger = client.remote_model("top-tagger")
    probs = tagger.predict(p4)                   # p4: (n_jets, n_particles, 4) = px, py, pz, E
    probs = tagger.predict(p4, pid=pid, charge=charge)   # for kinpid/full features
    tagger.classes()                             # the column order of `probs`
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hakutaku.workers.remote import RemoteModel, remote

MAX_JETS = 100_000


class JetTagger(RemoteModel):
    name: ClassVar[str | None] = "jet-tagger"
    description: ClassVar[str] = "A jet tagger trained with `hai hep train`."
    model_dir: ClassVar[str | None] = None
    max_inflight: ClassVar[int | None] = 8

    def __init__(self) -> None:
        self.name = os.environ.get("HAI_TAGGER_NAME") or type(self).name  # type: ignore[misc]
        directory = type(self).model_dir or os.environ.get("HAI_TAGGER_DIR")
        if not directory:
            raise ValueError("set HAI_TAGGER_DIR to a directory written by `hai hep train`")
        self.directory = Path(directory)
        if not (self.directory / "config.json").is_file():
            raise ValueError(
                f"{self.directory} has no config.json: is it a `hai hep train` output?"
            )
        self._lock = threading.Lock()

    def setup(self) -> None:
        from hakutaku.hep.training import load_trained

        self.model, self.cfg = load_trained(self.directory, os.environ.get("HAI_TAGGER_DEVICE"))
        self.device = next(self.model.parameters()).device

    @remote
    def classes(self) -> list[str]:
        """The class names, in the order of `predict`'s columns."""
        return list(self.cfg.label_names)

    @remote
    def info(self) -> dict[str, Any]:
        """Architecture, input features and training configuration."""
        return {
            "architecture": self.cfg.model,
            "features": self.cfg.features,
            "classes": self.cfg.label_names,
            "particles": self.cfg.length,
        }

    @remote
    def predict(
        self,
        jets: np.ndarray,
        mask: np.ndarray | None = None,
        pid: np.ndarray | None = None,
        charge: np.ndarray | None = None,
    ) -> np.ndarray:
        """Class probabilities (n_jets, n_classes) for zero-padded constituents (px, py, pz, E)."""
        from hakutaku.hep.jets import from_four_vectors
        from hakutaku.hep.training import predict, to_tensors

        jets = np.asarray(jets)
        if len(jets) > MAX_JETS:
            raise ValueError(f"{len(jets)} jets in one call; send at most {MAX_JETS} per call")
        batch = from_four_vectors(jets, mask=mask, pid=pid, charge=charge)
        inputs = to_tensors(batch, self.cfg.features, self.cfg.length)
        with self._lock:  # one forward pass at a time: the model is not re-entrant on a GPU
            probs, _ = predict(self.model, inputs, self.cfg.batch_size, self.device)
        return probs.astype(np.float32)

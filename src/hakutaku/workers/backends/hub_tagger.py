"""A hub weights version served as a remote model, with no class to write.

`hai deploy create NAME --hub ARCH:VERSION` runs this backend in every replica; the deploy
controller sets its environment from the weights' card:

- `HAI_HUB_ARCH`: the architecture (a built-in tagger, or a registered one with
  `HAI_HUB_BUILDER` = its `package.module:callable`);
- `HAI_HUB_CONFIG`: the card's builder keywords as JSON (`features` must name a feature set:
  kin, kinpid or full, which `predict` computes from four-vectors);
- `HAI_HUB_WEIGHTS_FILE` and `HAI_HUB_SHA256`: the state_dict in the platform's storage and
  its checksum (checked before it is loaded);
- `HAI_HUB_REF` (`ARCH/VERSION`) and `HAI_HUB_CLASSES` (JSON list, from the card's
  `metrics.classes`, else `class_0` ...): what `info()` and `classes()` answer.

Calls are those of `JetTagger`: `predict(p4, mask=, pid=, charge=)` → probabilities.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, ClassVar

from hakutaku.workers.backends.jet_tagger import JetTagger
from hakutaku.workers.remote import remote

MAX_CONSTITUENTS = 128  # the training default: longer jets are cut, as in `hai hep train`


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ValueError(f"{name} is not set: run this backend with `hai deploy create --hub`")
    return value


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class HubTagger(JetTagger):
    name: ClassVar[str | None] = "hub-tagger"
    description: ClassVar[str] = "A hub weights version served with `hai deploy create --hub`."

    def __init__(self) -> None:  # the settings come from the environment (see above)
        # The replica's `hai worker --name` names the model; this is for a worker by hand.
        self.name = os.environ.get("HAI_TAGGER_NAME") or type(self).name  # type: ignore[misc]
        self.architecture = _env("HAI_HUB_ARCH")
        self.builder = os.environ.get("HAI_HUB_BUILDER", "")
        self.config: dict[str, Any] = json.loads(os.environ.get("HAI_HUB_CONFIG") or "{}")
        self.weights_file = Path(_env("HAI_HUB_WEIGHTS_FILE"))
        self.sha256 = os.environ.get("HAI_HUB_SHA256", "")
        self.ref = os.environ.get("HAI_HUB_REF", self.architecture)
        self.class_names: list[str] = json.loads(os.environ.get("HAI_HUB_CLASSES") or "[]")
        self.description = f"hub weights {self.ref}"  # type: ignore[misc]
        self._lock = threading.Lock()

    def setup(self) -> None:
        from hakutaku.hep.training import TrainConfig, pick_device
        from hakutaku.hub.models import build_module, load_state

        if not self.weights_file.is_file():
            raise ValueError(
                f"the weights file {self.weights_file} of {self.ref} cannot be read from this "
                "job: the platform's storage root must be mounted on the compute nodes"
            )
        if self.sha256 and file_sha256(self.weights_file) != self.sha256:
            raise ValueError(f"the weights file of {self.ref} does not match its sha256")
        module = build_module(self.architecture, self.config, builder=self.builder or None)
        load_state(module, self.weights_file)
        self.model = module.to(pick_device(os.environ.get("HAI_TAGGER_DEVICE"))).eval()
        self.device = next(self.model.parameters()).device
        num_classes = int(self.config.get("num_classes", len(self.class_names) or 10))
        labels = self.class_names or [f"class_{i}" for i in range(num_classes)]
        self.cfg = TrainConfig(
            model=self.architecture,
            features=str(self.config.get("features", "kin")),
            length=MAX_CONSTITUENTS,
            label_names=labels,
        )

    @remote
    def info(self) -> dict[str, Any]:
        """Architecture, weights version, checksum, input features and classes."""
        return {
            "architecture": self.architecture,
            "weights": self.ref,
            "sha256": self.sha256,
            "features": self.cfg.features,
            "classes": self.cfg.label_names,
            "particles": self.cfg.length,
        }

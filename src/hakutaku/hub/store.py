"""A model and dataset hub kept in a folder (library use; `HAI_HUB_DIR`, else `$HAI_HOME/hub`).

Layout:
  architectures.json                 user-registered architectures: name → "module:builder"
  models/<name>/<version>/card.json  a weights card (sha256, data, metrics, licence, author)
  models/<name>/<version>/weights.pt the weights
  datasets/<name>/<version>/card.json a dataset card (files with checksums, splits, ...)
Cards are plain JSON so that they can be read, diffed and copied by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_name(kind: str, name: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(
            f"invalid {kind} name {name!r}: use letters, digits, '.', '_' or '-' (≤ 128), "
            "starting with a letter or digit"
        )
    return name


@dataclass
class WeightsCard:
    architecture: str
    version: str
    file: str
    sha256: str
    config: dict[str, Any] = field(default_factory=dict)  # how to build the module for them
    training_data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    licence: str = ""
    author: str = ""
    description: str = ""
    created_at: str = ""
    size: int = 0
    public: bool = True  # on a server: False shows them to their creator and admins only
    created_by: str = ""  # on a server: the platform user who registered them


@dataclass
class DatasetFile:
    path: str
    sha256: str
    bytes: int
    split: str = ""


@dataclass
class DatasetCard:
    name: str
    version: str
    description: str = ""
    licence: str = ""
    citation: str = ""
    format: str = ""
    files: list[DatasetFile] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)  # split → number of jets
    size_bytes: int = 0
    public: bool = True
    owner: str = ""
    created_at: str = ""


class FolderHub:
    """The hub's storage in one folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @classmethod
    def default(cls) -> FolderHub:
        explicit = os.environ.get("HAI_HUB_DIR")
        if explicit:
            return cls(explicit)
        home = os.environ.get("HAI_HOME") or Path.home() / ".hakutaku"
        return cls(Path(home) / "hub")

    # -- architectures --------------------------------------------------------------------

    def user_architectures(self) -> dict[str, dict[str, str]]:
        path = self.root / "architectures.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def add_architecture(self, name: str, builder: str, docs: str) -> None:
        check_name("architecture", name)
        if ":" not in builder:
            raise ValueError(f"builder {builder!r} must be 'module:callable'")
        known = self.user_architectures()
        known[name] = {"builder": builder, "docs": docs}
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "architectures.json").write_text(json.dumps(known, indent=2))

    # -- weights --------------------------------------------------------------------------

    def add_weights(self, card: WeightsCard, source: Path) -> WeightsCard:
        check_name("architecture", card.architecture)
        check_name("version", card.version)
        folder = self.root / "models" / card.architecture / card.version
        if folder.exists():
            raise ValueError(
                f"{card.architecture} weights {card.version!r} already exist; choose a new version"
            )
        folder.mkdir(parents=True)
        target = folder / "weights.pt"
        shutil.copyfile(source, target)
        card.file = str(target)
        card.sha256 = sha256_of(target)
        card.size = target.stat().st_size
        card.created_at = card.created_at or datetime.now(UTC).isoformat()
        (folder / "card.json").write_text(json.dumps(asdict(card), indent=2))
        return card

    def weights(self, architecture: str) -> list[WeightsCard]:
        folder = self.root / "models" / architecture
        cards = [
            WeightsCard(**json.loads(p.read_text())) for p in sorted(folder.glob("*/card.json"))
        ]
        return sorted(cards, key=lambda c: c.created_at)

    def find_weights(self, architecture: str, version: str) -> WeightsCard:
        cards = self.weights(architecture)
        if not cards:
            raise LookupError(f"no weights registered for {architecture!r}")
        if version == "latest":
            return cards[-1]
        for card in cards:
            if card.version == version:
                return card
        known = ", ".join(c.version for c in cards)
        raise LookupError(f"{architecture!r} has no weights {version!r} (it has: {known})")

    def weights_file(self, card: WeightsCard) -> Path:
        """Where the weights of `card` can be read on this machine."""
        return Path(card.file)

    # -- datasets -------------------------------------------------------------------------

    def add_dataset(self, card: DatasetCard) -> DatasetCard:
        check_name("dataset", card.name)
        check_name("version", card.version)
        folder = self.root / "datasets" / card.name / card.version
        if folder.exists():
            raise ValueError(f"dataset {card.name} {card.version!r} exists; choose a new version")
        folder.mkdir(parents=True)
        card.created_at = card.created_at or datetime.now(UTC).isoformat()
        card.size_bytes = sum(f.bytes for f in card.files)
        (folder / "card.json").write_text(json.dumps(asdict(card), indent=2))
        return card

    def datasets(self) -> list[DatasetCard]:
        return [_dataset(p) for p in sorted((self.root / "datasets").glob("*/*/card.json"))]

    def find_dataset(self, name: str, version: str = "latest") -> DatasetCard:
        cards = [c for c in self.datasets() if c.name == name]
        if not cards:
            raise LookupError(f"no dataset named {name!r}; hub.datasets.list() shows them")
        if version == "latest":
            return max(cards, key=lambda c: c.created_at)
        for card in cards:
            if card.version == version:
                return card
        raise LookupError(f"dataset {name!r} has no version {version!r}")


def _dataset(path: Path) -> DatasetCard:
    raw = json.loads(path.read_text())
    raw["files"] = [DatasetFile(**f) for f in raw.get("files", [])]
    return DatasetCard(**raw)

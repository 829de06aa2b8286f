"""The dataset registry: `hub.datasets.register/list/get`."""

from __future__ import annotations

import builtins
from pathlib import Path

from hakutaku.hub.store import DatasetCard, DatasetFile, FolderHub, sha256_of


def register(
    name: str,
    files: builtins.list[str | Path] | dict[str, builtins.list[str | Path]],
    *,
    version: str = "1",
    description: str = "",
    licence: str = "",
    citation: str = "",
    format: str = "",
    splits: dict[str, int] | None = None,
    public: bool = True,
    owner: str = "",
    hub: FolderHub | None = None,
) -> DatasetCard:
    """Record a dataset: its files (with checksums; a dict maps split name → files)."""
    by_split = files if isinstance(files, dict) else {"": files}
    entries = []
    for split, paths in by_split.items():
        for p in paths:
            path = Path(p).resolve()
            if not path.is_file():
                raise FileNotFoundError(f"dataset file {path} does not exist")
            entries.append(DatasetFile(str(path), sha256_of(path), path.stat().st_size, split))
    card = DatasetCard(
        name=name,
        version=version,
        description=description,
        licence=licence,
        citation=citation,
        format=format,
        files=entries,
        splits=dict(splits or {}),
        public=public,
        owner=owner,
    )
    return (hub or FolderHub.default()).add_dataset(card)


def list(hub: FolderHub | None = None) -> builtins.list[DatasetCard]:
    return (hub or FolderHub.default()).datasets()


def get(name: str, version: str = "latest", hub: FolderHub | None = None) -> DatasetCard:
    cards = [c for c in list(hub) if c.name == name]
    if not cards:
        raise LookupError(f"no dataset named {name!r}; hub.datasets.list() shows them")
    if version == "latest":
        return max(cards, key=lambda c: c.created_at)
    for card in cards:
        if card.version == version:
            return card
    raise LookupError(f"dataset {name!r} has no version {version!r}")


def verify(card: DatasetCard) -> builtins.list[str]:
    """The files whose checksum no longer matches (empty when the dataset is intact)."""
    return [
        f.path
        for f in card.files
        if not Path(f.path).exists() or sha256_of(Path(f.path)) != f.sha256
    ]

"""The dataset registry: `hub.datasets.register/list/get/verify`.

A card records where a dataset's files are, with checksums; the files themselves stay where
they are. On a server, register files others can reach (the platform's public area, a shared
file system): the paths are recorded as given.
"""

from __future__ import annotations

import builtins
from pathlib import Path

from hakutaku.hub.backend import HubStore, current
from hakutaku.hub.store import DatasetCard, DatasetFile, sha256_of


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
    hub: HubStore | None = None,
) -> DatasetCard:
    """Record a dataset: its files (with checksums; a dict maps split name → files).

    `public=False` shows it on a server only to you and the admins; there the owner is the
    user of the API key, whatever `owner` says.
    """
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
    return current(hub).add_dataset(card)


def list(hub: HubStore | None = None) -> builtins.list[DatasetCard]:
    return current(hub).datasets()


def get(name: str, version: str = "latest", hub: HubStore | None = None) -> DatasetCard:
    return current(hub).find_dataset(name, version)


def verify(card: DatasetCard) -> builtins.list[str]:
    """The files whose checksum no longer matches (empty when the dataset is intact)."""
    return [
        f.path
        for f in card.files
        if not Path(f.path).exists() or sha256_of(Path(f.path)) != f.sha256
    ]

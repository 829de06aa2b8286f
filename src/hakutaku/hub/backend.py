"""Which store the hub uses: a local folder (library use) or a platform server.

The server is used after `hub.use_server(url, api_key)`, or when `HAI_HUB=server` (then the URL
and key come from the settings: HAI_URL / HAI_HOST:HAI_PORT and HAI_API_KEY). Otherwise the
folder (`HAI_HUB_DIR`, else `$HAI_HOME/hub`). Every hub function also takes `hub=` to name a
store explicitly, which wins over both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hakutaku.hub.store import DatasetCard, FolderHub, WeightsCard

if TYPE_CHECKING:
    from hakutaku.hub.remote_store import RemoteHub


class HubStore(Protocol):
    """What the hub functions need from a store; FolderHub and RemoteHub provide it."""

    def user_architectures(self) -> dict[str, dict[str, str]]: ...
    def add_architecture(self, name: str, builder: str, docs: str) -> None: ...
    def add_weights(self, card: WeightsCard, source: Path) -> WeightsCard: ...
    def weights(self, architecture: str) -> list[WeightsCard]: ...
    def find_weights(self, architecture: str, version: str) -> WeightsCard: ...
    def weights_file(self, card: WeightsCard) -> Path: ...
    def add_dataset(self, card: DatasetCard) -> DatasetCard: ...
    def datasets(self) -> list[DatasetCard]: ...
    def find_dataset(self, name: str, version: str = "latest") -> DatasetCard: ...


_chosen: HubStore | None = None  # set by use_server / use_folder; wins over HAI_HUB
_from_env: RemoteHub | None = None  # HAI_HUB=server: one connection, made at first use


def use_server(url: str | None = None, api_key: str | None = None) -> RemoteHub:
    """Keep the hub on a platform server from now on (in this process); returns the store."""
    from hakutaku.hub.remote_store import RemoteHub

    global _chosen
    store = RemoteHub(url, api_key)
    _chosen = store
    return store


def use_folder(path: str | Path | None = None) -> FolderHub:
    """Keep the hub in a folder from now on (default: HAI_HUB_DIR, else $HAI_HOME/hub)."""
    global _chosen
    store = FolderHub(path) if path is not None else FolderHub.default()
    _chosen = store
    return store


def current(explicit: HubStore | None = None) -> HubStore:
    """The store to use: `explicit`, else the one chosen in this process, else by HAI_HUB."""
    if explicit is not None:
        return explicit
    if _chosen is not None:
        return _chosen
    mode = os.environ.get("HAI_HUB", "").strip().lower()
    if mode == "server":
        from hakutaku.hub.remote_store import RemoteHub

        global _from_env
        if _from_env is None:
            _from_env = RemoteHub()
        return _from_env
    if mode not in ("", "folder", "local"):
        raise ValueError(f"HAI_HUB={mode!r} is not understood: use 'server' or 'folder'")
    return FolderHub.default()

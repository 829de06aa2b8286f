"""The hub on a platform server, seen from a client: the same store interface as FolderHub,
spoken through the SDK's hub resource (`client.hub`, `/api/hub`).

Weights files are downloaded once into `$HAI_HOME/cache/hub` and checked against their sha256.
The platform's errors (the SDK's `APIError`) become the exceptions the folder store raises —
LookupError for what is missing, ValueError for a version that exists or a bad request,
PermissionError for what the key may not do (`folder_error`) — so code written against the
library behaves the same in both places. A platform that cannot be reached stays the SDK's
`ConnectionFailed`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from hakutaku.hub.store import DatasetCard, DatasetFile, WeightsCard, check_name
from hakutaku.sdk import config
from hakutaku.sdk.client import Client
from hakutaku.sdk.errors import APIError, ConnectionFailed

NO_KEY = (
    "The hub on a server needs an API key: pass hub.use_server(api_key=...) or set HAI_API_KEY."
)


def folder_error(exc: APIError) -> Exception:
    """The exception the folder store raises for the same mistake (the APIError itself for
    what it has no counterpart for: a server failure, a lost connection)."""
    if isinstance(exc, ConnectionFailed):
        return exc
    if exc.status == 404:
        return LookupError(exc.message)
    if exc.status in (401, 403):
        return PermissionError(exc.message)
    if exc.status in (400, 409, 413, 422):
        return ValueError(exc.message)
    return exc


@contextmanager
def _as_folder_errors() -> Iterator[None]:
    try:
        yield
    except APIError as exc:
        mapped = folder_error(exc)
        if mapped is exc:
            raise
        raise mapped from exc


class RemoteHub:
    """A hub kept by the platform at `url` for `api_key` (defaults: as for `Client()`), or
    reached through an existing `client`."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
        client: Client | None = None,
    ) -> None:
        if client is None:
            key = config.api_key(api_key)
            if not key:
                raise ValueError(NO_KEY)
            client = Client(url, key, timeout=timeout)
        self.client = client
        self.url = client.base_url
        self.cache = config.hai_home() / "cache" / "hub"

    def __repr__(self) -> str:
        return f"RemoteHub({self.url!r})"

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    # -- architectures --------------------------------------------------------------------

    def user_architectures(self) -> dict[str, dict[str, str]]:
        with _as_folder_errors():
            rows = self.client.hub.architectures.list()
        return {
            r["name"]: {"builder": r["builder"], "docs": r["description"]}
            for r in rows
            if not r["builtin"]
        }

    def add_architecture(self, name: str, builder: str, docs: str) -> None:
        with _as_folder_errors():
            self.client.hub.architectures.add(name, builder, docs)

    # -- weights --------------------------------------------------------------------------

    def add_weights(self, card: WeightsCard, source: Path) -> WeightsCard:
        check_name("architecture", card.architecture)
        check_name("version", card.version)
        with _as_folder_errors():
            row = self.client.hub.weights.push(
                card.architecture,
                card.version,
                source,
                config=card.config,
                metrics=card.metrics,
                training_data=card.training_data,
                licence=card.licence,
                author=card.author,
                description=card.description,
                public=card.public,
            )
        return _weights_card(row)

    def weights(self, architecture: str) -> list[WeightsCard]:
        with _as_folder_errors():
            rows = self.client.hub.weights.list(architecture)
        return [_weights_card(r) for r in rows]

    def find_weights(self, architecture: str, version: str) -> WeightsCard:
        with _as_folder_errors():
            return _weights_card(self.client.hub.weights.get(architecture, version))

    def weights_file(self, card: WeightsCard) -> Path:
        """The weights in the local cache, downloaded (and checked) the first time."""
        target = self.cache / card.architecture / f"{card.version}-{card.sha256[:16]}.pt"
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with _as_folder_errors():
            return self.client.hub.weights.pull(
                card.architecture, card.version, target, sha256=card.sha256
            )

    def delete_weights(self, architecture: str, version: str) -> WeightsCard:
        with _as_folder_errors():
            return _weights_card(self.client.hub.weights.delete(architecture, version))

    # -- datasets -------------------------------------------------------------------------

    def add_dataset(self, card: DatasetCard) -> DatasetCard:
        with _as_folder_errors():
            row = self.client.hub.datasets.add(
                card.name,
                card.version,
                files=[asdict(f) for f in card.files],
                splits=card.splits,
                description=card.description,
                licence=card.licence,
                citation=card.citation,
                format=card.format,
                public=card.public,
            )
        return _dataset_card(row)

    def datasets(self) -> list[DatasetCard]:
        with _as_folder_errors():
            rows = self.client.hub.datasets.list()
        return [_dataset_card(r) for r in rows]

    def find_dataset(self, name: str, version: str = "latest") -> DatasetCard:
        with _as_folder_errors():
            return _dataset_card(self.client.hub.datasets.get(name, version))

    def delete_dataset(self, name: str, version: str) -> DatasetCard:
        with _as_folder_errors():
            return _dataset_card(self.client.hub.datasets.delete(name, version))


def _weights_card(row: dict[str, Any]) -> WeightsCard:
    known = {f.name for f in fields(WeightsCard)}
    # `file` stays empty: the file is on the server; weights_file() fetches it.
    return WeightsCard(**{k: v for k, v in row.items() if k in known} | {"file": ""})


def _dataset_card(row: dict[str, Any]) -> DatasetCard:
    known = {f.name for f in fields(DatasetCard)}
    values = {k: v for k, v in row.items() if k in known}
    values["files"] = [DatasetFile(**f) for f in values.get("files", [])]
    return DatasetCard(**values)

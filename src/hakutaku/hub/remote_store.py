"""The hub on a platform server, seen from a client: the same store interface as FolderHub,
spoken over HTTP to `/api/hub`.

Weights files are downloaded once into `$HAI_HOME/cache/hub` and checked against their sha256;
server errors become the exceptions the folder store raises (LookupError for what is missing,
ValueError for a version that exists or a bad request, PermissionError for what the key may not
do), so code written against the library behaves the same in both places.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from hakutaku.config import Settings, cli_api_key
from hakutaku.hub.store import DatasetCard, DatasetFile, WeightsCard, check_name
from hakutaku.sdk.errors import APIError, ConnectionFailed, from_response

CHUNK = 1 << 20


class RemoteHub:
    """A hub kept by the platform at `url` (default: the settings' server URL) for `api_key`."""

    def __init__(
        self, url: str | None = None, api_key: str | None = None, *, timeout: float = 300.0
    ) -> None:
        settings = Settings()
        self.url = (url or settings.server_url).rstrip("/")
        key = api_key or cli_api_key(settings)
        if not key:
            raise ValueError(
                "The hub on a server needs an API key: pass hub.use_server(api_key=...) or set "
                "HAI_API_KEY."
            )
        self.cache = settings.home / "cache" / "hub"
        self._http = httpx.Client(
            base_url=self.url,
            headers={"authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def __repr__(self) -> str:
        return f"RemoteHub({self.url!r})"

    def close(self) -> None:
        self._http.close()

    # -- architectures --------------------------------------------------------------------

    def user_architectures(self) -> dict[str, dict[str, str]]:
        rows = self._json("GET", "/api/hub/architectures")
        return {
            r["name"]: {"builder": r["builder"], "docs": r["description"]}
            for r in rows
            if not r["builtin"]
        }

    def add_architecture(self, name: str, builder: str, docs: str) -> None:
        body = {"name": name, "builder": builder, "description": docs}
        self._json("POST", "/api/hub/architectures", json=body)

    # -- weights --------------------------------------------------------------------------

    def add_weights(self, card: WeightsCard, source: Path) -> WeightsCard:
        check_name("architecture", card.architecture)
        check_name("version", card.version)
        data = Path(source).read_bytes()
        params = {
            "sha256": hashlib.sha256(data).hexdigest(),  # the server checks what it received
            "config": json.dumps(card.config),
            "metrics": json.dumps(card.metrics),
            "training_data": card.training_data,
            "licence": card.licence,
            "author": card.author,
            "description": card.description,
            "public": "true" if card.public else "false",
        }
        headers = {"content-type": "application/octet-stream"}
        path = _weights_path(card.architecture, card.version)
        row = self._json("POST", path, params=params, content=data, headers=headers)
        return _weights_card(row)

    def weights(self, architecture: str) -> list[WeightsCard]:
        rows = self._json("GET", "/api/hub/weights", params={"architecture": architecture})
        return [_weights_card(r) for r in rows]

    def find_weights(self, architecture: str, version: str) -> WeightsCard:
        return _weights_card(self._json("GET", _weights_path(architecture, version)))

    def weights_file(self, card: WeightsCard) -> Path:
        """The weights in the local cache, downloaded (and checked) the first time."""
        target = self.cache / card.architecture / f"{card.version}-{card.sha256[:16]}.pt"
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        digest = hashlib.sha256()
        url = _weights_path(card.architecture, card.version) + "/file"
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(from_response(response))
                with open(partial, "wb") as f:
                    for block in response.iter_bytes(CHUNK):
                        digest.update(block)
                        f.write(block)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise self._unreachable(exc) from exc
        if digest.hexdigest() != card.sha256:
            partial.unlink(missing_ok=True)
            raise OSError(
                f"the download of {card.architecture}/{card.version} from {self.url} does not "
                f"match its sha256 {card.sha256}; try again, and tell the operator if it persists"
            )
        partial.replace(target)
        return target

    def delete_weights(self, architecture: str, version: str) -> WeightsCard:
        return _weights_card(self._json("DELETE", _weights_path(architecture, version)))

    # -- datasets -------------------------------------------------------------------------

    def add_dataset(self, card: DatasetCard) -> DatasetCard:
        body = asdict(card)
        for server_side in ("owner", "created_at", "size_bytes"):
            body.pop(server_side)
        return _dataset_card(self._json("POST", "/api/hub/datasets", json=body))

    def datasets(self) -> list[DatasetCard]:
        return [_dataset_card(r) for r in self._json("GET", "/api/hub/datasets")]

    def find_dataset(self, name: str, version: str = "latest") -> DatasetCard:
        path = f"/api/hub/datasets/{quote(name, safe='')}"
        return _dataset_card(self._json("GET", path, params={"version": version}))

    def delete_dataset(self, name: str, version: str) -> DatasetCard:
        path = f"/api/hub/datasets/{quote(name, safe='')}"
        return _dataset_card(self._json("DELETE", path, params={"version": version}))

    # -- HTTP -----------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise _error(from_response(response))
        return response.json()

    def _unreachable(self, exc: Exception) -> ConnectionFailed:
        return ConnectionFailed(
            0, f"cannot reach the hub's server at {self.url} ({exc}); is it running?"
        )


def _weights_path(architecture: str, version: str) -> str:
    return f"/api/hub/weights/{quote(architecture, safe='')}/{quote(version, safe='')}"


def _error(exc: APIError) -> Exception:
    """The exception the folder store would raise for the same mistake."""
    if exc.status == 404:
        return LookupError(exc.message)
    if exc.status in (401, 403):
        return PermissionError(exc.message)
    if exc.status in (400, 409, 413, 422):
        return ValueError(exc.message)
    return exc


def _weights_card(row: dict[str, Any]) -> WeightsCard:
    known = {f.name for f in fields(WeightsCard)}
    # `file` stays empty: the file is on the server; weights_file() fetches it.
    return WeightsCard(**{k: v for k, v in row.items() if k in known} | {"file": ""})


def _dataset_card(row: dict[str, Any]) -> DatasetCard:
    known = {f.name for f in fields(DatasetCard)}
    values = {k: v for k, v in row.items() if k in known}
    values["files"] = [DatasetFile(**f) for f in values.get("files", [])]
    return DatasetCard(**values)

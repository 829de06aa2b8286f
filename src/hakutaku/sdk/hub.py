"""`client.hub`: the model zoo (architectures, versioned weights) and the dataset registry.

    client.hub.architectures.list()
    client.hub.weights.push("pfn", "top-v1", "pfn.pt", config={"features": "kin"})
    client.hub.weights.pull("pfn", "latest", "pfn.pt")           # checked against its sha256
    client.hub.datasets.get("top-tagging")

Private weights and datasets are seen only by whoever registered them and by admins. These
methods speak the wire records; `hakutaku.hub` (hub.load, hub.register_weights, ...) builds
the library's cards and modules on top of them.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from hakutaku.sdk._resource import Record, Resource, query, segment
from hakutaku.sdk.errors import ChecksumMismatch

BLOCK = 1 << 20


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _weights_path(architecture: str, version: str) -> str:
    return f"/api/hub/weights/{segment(architecture)}/{segment(version)}"


class Hub(Resource):
    """`/api/hub`: `architectures`, `weights` and `datasets`."""

    @cached_property
    def architectures(self) -> Architectures:
        return Architectures(self._client)

    @cached_property
    def weights(self) -> Weights:
        return Weights(self._client)

    @cached_property
    def datasets(self) -> Datasets:
        return Datasets(self._client)


class Architectures(Resource):
    """`/api/hub/architectures`. A record: `name`, `builder` (`module:callable`, empty for
    the built-in ones), `description`, `builtin`, `owner`, `created_at`."""

    def list(self) -> builtins.list[Record]:
        """The built-in taggers, then those registered (GET /api/hub/architectures)."""
        return self._client._objects("GET", "/api/hub/architectures")

    def add(self, name: str, builder: str, description: str = "") -> Record:
        """Register an architecture by its builder, `package.module:callable` returning an
        nn.Module (POST /api/hub/architectures). Clients import the builder; the server never
        runs it. 409 when the name is taken or built in."""
        body = {"name": name, "builder": builder, "description": description}
        return self._client._object("POST", "/api/hub/architectures", json=body)


class Weights(Resource):
    """`/api/hub/weights`. A card: `architecture`, `version`, `sha256`, `size`, `config`
    (the builder's keywords), `training_data`, `metrics`, `licence`, `author`,
    `description`, `public`, `created_by`, `created_at`, `download`."""

    def list(self, architecture: str | None = None) -> builtins.list[Record]:
        """Weights your key may see, oldest first; of one architecture if given (GET
        /api/hub/weights)."""
        params = query(architecture=architecture)
        return self._client._objects("GET", "/api/hub/weights", params=params)

    def get(self, architecture: str, version: str = "latest") -> Record:
        """One card; `latest` is the newest (GET /api/hub/weights/{architecture}/{version})."""
        return self._client._object("GET", _weights_path(architecture, version))

    def push(
        self,
        architecture: str,
        version: str,
        file: str | os.PathLike[str],
        *,
        config: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        training_data: str = "",
        licence: str = "",
        author: str = "",
        description: str = "",
        public: bool = True,
    ) -> Record:
        """Upload a state_dict saved with torch.save as a new version, with its card (POST
        /api/hub/weights/{architecture}/{version}; at most the server's body limit).

        The server checks the file's SHA-256 against the one sent (400 `checksum_mismatch`)
        and that it is PyTorch weights; 404 for an unknown architecture, 409 for a version
        that exists. `public=False`: only you and admins see them. Returns the card.
        """
        path = Path(file)
        params = {
            "sha256": _sha256_of(path),
            "config": json.dumps(dict(config or {})),
            "metrics": json.dumps(dict(metrics or {})),
            "training_data": training_data,
            "licence": licence,
            "author": author,
            "description": description,
            "public": public,
        }
        with open(path, "rb") as body:
            return self._client._object(
                "POST",
                _weights_path(architecture, version),
                params=params,
                content=body,
                headers={"content-type": "application/octet-stream"},
            )

    def pull(
        self,
        architecture: str,
        version: str = "latest",
        to: str | os.PathLike[str] | None = None,
        *,
        sha256: str | None = None,
    ) -> Path:
        """Download a weights file (GET /api/hub/weights/{architecture}/{version}/file) to
        `to` (a file, or a folder for `ARCH-VERSION.pt`; default that name here).

        The bytes are checked against `sha256` (default: the checksum the server sends with
        them); on a mismatch nothing is kept and ChecksumMismatch (an OSError) is raised. The
        file is written beside its target first and renamed when complete.
        """
        target = Path(to) if to is not None else Path(".")
        if target.is_dir():
            card = self.get(architecture, version)
            target = target / f"{card['architecture']}-{card['version']}.pt"
            sha256 = sha256 or card["sha256"]
        partial = target.with_name(target.name + ".part")
        digest = hashlib.sha256()
        try:
            with self._client._stream(
                "GET",
                _weights_path(architecture, version) + "/file",
                what=f"the download of {architecture}/{version}",
            ) as response:
                expected = sha256 or response.headers.get("x-sha256")
                with open(partial, "wb") as f:
                    for block in response.iter_bytes(BLOCK):
                        digest.update(block)
                        f.write(block)
            if expected and digest.hexdigest() != expected:
                raise ChecksumMismatch(
                    f"the download of {architecture}/{version} from {self._client.base_url} "
                    f"does not match its sha256 {expected}; try again, and tell the operator "
                    "if it persists"
                )
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return target

    def delete(self, architecture: str, version: str) -> Record:
        """Delete a version and its file (DELETE /api/hub/weights/{architecture}/{version});
        whoever registered it, or an admin (else 403). Returns its card."""
        return self._client._object("DELETE", _weights_path(architecture, version))


class Datasets(Resource):
    """`/api/hub/datasets`. A card: `name`, `version`, `description`, `licence`,
    `citation`, `format`, `files` ([{path, sha256, bytes, split}]), `splits` (split →
    number of jets), `public`, `size_bytes`, `owner`, `created_at`."""

    def list(self) -> builtins.list[Record]:
        """The dataset cards your key may see (GET /api/hub/datasets)."""
        return self._client._objects("GET", "/api/hub/datasets")

    def get(self, name: str, version: str = "latest") -> Record:
        """One card, by default the newest version (GET /api/hub/datasets/{name})."""
        path = f"/api/hub/datasets/{segment(name)}"
        return self._client._object("GET", path, params={"version": version})

    def add(
        self,
        name: str,
        version: str = "1",
        *,
        files: Sequence[Mapping[str, Any]] = (),
        splits: Mapping[str, int] | None = None,
        description: str = "",
        licence: str = "",
        citation: str = "",
        format: str = "",
        public: bool = True,
    ) -> Record:
        """Register a dataset card; you become its owner (POST /api/hub/datasets). `files`
        are `{path, sha256, bytes, split}`, paths in the platform's storage. 409 when the
        version exists. Returns the card."""
        body = {
            "name": name,
            "version": version,
            "description": description,
            "licence": licence,
            "citation": citation,
            "format": format,
            "files": [dict(f) for f in files],
            "splits": dict(splits or {}),
            "public": public,
        }
        return self._client._object("POST", "/api/hub/datasets", json=body)

    def delete(self, name: str, version: str) -> Record:
        """Delete one version of a card (DELETE /api/hub/datasets/{name}?version=); its
        owner or an admin. Returns the card."""
        path = f"/api/hub/datasets/{segment(name)}"
        return self._client._object("DELETE", path, params={"version": version})

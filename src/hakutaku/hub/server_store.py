"""The hub kept by the platform: rows in its database, weights files under its storage root.

This is the service behind `/api/hub` (hakutaku.api.hub). The hub library reaches it over HTTP
(hakutaku.hub.remote_store) and never imports this module, so `from hakutaku import hub` works
where the server's dependencies are absent. The server never imports or calls a registered
builder: it only records it, and clients build the modules.

Visibility: public weights and datasets are seen by every key; private ones only by the user who
registered them and by admins. Anything hidden answers 404, as if it did not exist.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from hakutaku.db.models import HubArchitecture, HubDataset, HubWeights
from hakutaku.errors import Conflict, Forbidden, NotFound, PlatformError
from hakutaku.hub.store import check_name
from hakutaku.identity.auth import Principal

# The architectures every client has (hakutaku.hep.models.ARCHITECTURES; a test keeps the two
# equal). Named here so that the server need not import torch to know them.
BUILTIN_ARCHITECTURES = frozenset({"pfn", "pcnn", "particlenet", "part"})
BUILDER_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
WEIGHTS_DIR = "hub/weights"  # under the storage root


@dataclass
class WeightsMeta:
    """What a client says about the weights it uploads (the file is the request body)."""

    architecture: str
    version: str
    sha256: str
    config: dict[str, Any] = field(default_factory=dict)
    training_data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    licence: str = ""
    author: str = ""
    description: str = ""
    public: bool = True


@dataclass
class DatasetMeta:
    name: str
    version: str = "1"
    description: str = ""
    licence: str = ""
    citation: str = ""
    format: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    public: bool = True


class ServerHub:
    """The hub's rows in one database session and its files under `storage_root`."""

    def __init__(self, s: Session, storage_root: Path) -> None:
        self.s = s
        self.root = storage_root

    # -- architectures --------------------------------------------------------------------

    def architectures(self) -> list[HubArchitecture]:
        return list(self.s.scalars(select(HubArchitecture).order_by(HubArchitecture.name)))

    def add_architecture(
        self, who: Principal, name: str, builder: str, description: str = ""
    ) -> HubArchitecture:
        _check_name("architecture", name)
        if name.lower() in BUILTIN_ARCHITECTURES:
            raise Conflict(
                f"{name!r} is a built-in architecture; register yours under another name"
            )
        if not BUILDER_RE.match(builder):
            raise PlatformError(
                f"builder {builder!r} must be 'package.module:callable' (a function or class that "
                "returns a torch.nn.Module from keyword arguments)",
                param="builder",
            )
        if self._architecture(name) is not None:
            raise Conflict(f"architecture {name!r} is already registered; choose another name")
        row = HubArchitecture(
            name=name, builder=builder, description=description, owner_id=who.user_id
        )
        self.s.add(row)
        self._flush(f"architecture {name!r} is already registered; choose another name")
        return row

    def _architecture(self, name: str) -> HubArchitecture | None:
        return self.s.scalar(select(HubArchitecture).where(HubArchitecture.name == name))

    def _check_known(self, architecture: str) -> None:
        if architecture in BUILTIN_ARCHITECTURES or self._architecture(architecture) is not None:
            return
        raise NotFound(
            f"unknown architecture {architecture!r}: register it first "
            "(hub.register_architecture or POST /api/hub/architectures); "
            "GET /api/hub/architectures lists the known ones",
            param="architecture",
        )

    # -- weights --------------------------------------------------------------------------

    def weights(self, who: Principal, architecture: str | None = None) -> list[HubWeights]:
        """The weights `who` may see, oldest first (so the last is "latest")."""
        query = select(HubWeights).where(_visible(who, HubWeights.public, HubWeights.created_by_id))
        if architecture is not None:
            query = query.where(HubWeights.architecture == architecture)
        return list(self.s.scalars(query.order_by(HubWeights.created_at, HubWeights.id)))

    def get_weights(self, who: Principal, architecture: str, version: str) -> HubWeights:
        rows = self.weights(who, architecture)
        if not rows:
            raise NotFound(
                f"no weights registered for {architecture!r} that your key may see; "
                "GET /api/hub/weights lists them"
            )
        if version == "latest":
            return rows[-1]
        for row in rows:
            if row.version == version:
                return row
        known = ", ".join(r.version for r in rows)
        raise NotFound(f"{architecture!r} has no weights {version!r} (it has: {known})")

    def add_weights(self, who: Principal, meta: WeightsMeta, data: bytes) -> HubWeights:
        """Check the upload against its declared sha256, store the file, record the card."""
        _check_name("architecture", meta.architecture)
        _check_name("version", meta.version)
        if meta.version == "latest":
            raise PlatformError("'latest' names the newest weights; choose another version")
        self._check_known(meta.architecture)
        declared = meta.sha256.strip().lower()
        if not SHA256_RE.match(declared):
            raise PlatformError("sha256 must be 64 hexadecimal digits", param="sha256")
        actual = hashlib.sha256(data).hexdigest()
        if actual != declared:
            raise PlatformError(
                f"the uploaded file's sha256 is {actual}, not the declared {declared}: the file "
                "was damaged on the way or is not the one meant; send it again",
                param="sha256",
                code="checksum_mismatch",
            )
        _check_torch_file(data)
        taken = self.s.scalar(
            select(HubWeights.id).where(
                HubWeights.architecture == meta.architecture, HubWeights.version == meta.version
            )
        )
        if taken is not None:
            raise Conflict(_exists(meta.architecture, meta.version))
        relative = f"{WEIGHTS_DIR}/{meta.architecture}/{meta.version}.pt"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        partial.write_bytes(data)
        row = HubWeights(
            architecture=meta.architecture,
            version=meta.version,
            file=relative,
            sha256=actual,
            size=len(data),
            config=meta.config,
            training_data=meta.training_data,
            metrics=meta.metrics,
            licence=meta.licence,
            author=meta.author,
            description=meta.description,
            public=meta.public,
            created_by_id=who.user_id,
        )
        self.s.add(row)
        try:
            # The unique row is taken before the file moves into place: of two racing uploads
            # of one version, only the one holding the row writes the final file.
            self._flush(_exists(meta.architecture, meta.version))
        except Conflict:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)
        return row

    def weights_path(self, row: HubWeights) -> Path:
        path = self.root / row.file
        if not path.is_file():
            raise NotFound(
                f"the file of {row.architecture}/{row.version} is missing from the storage root; "
                "ask the operator to restore it or delete and register these weights again"
            )
        return path

    def delete_weights(self, who: Principal, architecture: str, version: str) -> HubWeights:
        if version == "latest":
            raise PlatformError("name the version to delete, not 'latest'")
        row = self.get_weights(who, architecture, version)
        if row.created_by_id != who.user_id and not who.is_admin:
            raise Forbidden(
                f"only {row.created_by.name} (who registered {architecture}/{version}) or an "
                "admin may delete these weights"
            )
        path = self.root / row.file
        self.s.delete(row)
        self.s.flush()
        path.unlink(missing_ok=True)
        return row

    # -- datasets -------------------------------------------------------------------------

    def datasets(self, who: Principal, name: str | None = None) -> list[HubDataset]:
        query = select(HubDataset).where(_visible(who, HubDataset.public, HubDataset.owner_id))
        if name is not None:
            query = query.where(HubDataset.name == name)
        order = (HubDataset.name, HubDataset.created_at, HubDataset.id)
        return list(self.s.scalars(query.order_by(*order)))

    def get_dataset(self, who: Principal, name: str, version: str = "latest") -> HubDataset:
        rows = self.datasets(who, name)
        if not rows:
            raise NotFound(
                f"no dataset named {name!r} that your key may see (private datasets are shown "
                "only to their owner); GET /api/hub/datasets lists them"
            )
        if version == "latest":
            return rows[-1]
        for row in rows:
            if row.version == version:
                return row
        known = ", ".join(r.version for r in rows)
        raise NotFound(f"dataset {name!r} has no version {version!r} (it has: {known})")

    def add_dataset(self, who: Principal, meta: DatasetMeta) -> HubDataset:
        _check_name("dataset", meta.name)
        _check_name("version", meta.version)
        if meta.version == "latest":
            raise PlatformError("'latest' names the newest version; choose another version")
        files = [_check_file(i, f) for i, f in enumerate(meta.files)]
        exists = f"dataset {meta.name} version {meta.version!r} exists; choose a new version"
        taken = self.s.scalar(
            select(HubDataset.id).where(
                HubDataset.name == meta.name, HubDataset.version == meta.version
            )
        )
        if taken is not None:
            raise Conflict(exists)
        row = HubDataset(
            name=meta.name,
            version=meta.version,
            description=meta.description,
            licence=meta.licence,
            citation=meta.citation,
            format=meta.format,
            files=files,
            splits=dict(meta.splits),
            size_bytes=sum(f["bytes"] for f in files),
            public=meta.public,
            owner_id=who.user_id,
        )
        self.s.add(row)
        self._flush(exists)
        return row

    def delete_dataset(self, who: Principal, name: str, version: str) -> HubDataset:
        if version == "latest":
            raise PlatformError("name the version to delete, not 'latest'", param="version")
        row = self.get_dataset(who, name, version)
        if row.owner_id != who.user_id and not who.is_admin:
            raise Forbidden(f"only {row.owner.name} (its owner) or an admin may delete {name}")
        self.s.delete(row)
        self.s.flush()
        return row

    # -- search (the portal's hub page) ---------------------------------------------------

    def find_architectures(self, text: str = "", limit: int = 100) -> list[HubArchitecture]:
        """Registered architectures whose name or description holds `text` (any case)."""
        a = HubArchitecture
        query = select(a).options(joinedload(a.owner)).order_by(a.name).limit(limit)
        if text:
            query = query.where(_holds(text, a.name, a.description))
        return list(self.s.scalars(query))

    def find_weights(self, who: Principal, text: str = "", limit: int = 100) -> list[HubWeights]:
        """The weights `who` may see whose architecture, version, description or author holds
        `text`: by architecture, newest first; their creators loaded in the same round trip."""
        w = HubWeights
        query = (
            select(w)
            .where(_visible(who, w.public, w.created_by_id))
            .options(joinedload(w.created_by))
            .order_by(w.architecture, w.created_at.desc(), w.id.desc())
            .limit(limit)
        )
        if text:
            query = query.where(_holds(text, w.architecture, w.version, w.description, w.author))
        return list(self.s.scalars(query))

    def find_datasets(self, who: Principal, text: str = "", limit: int = 100) -> list[HubDataset]:
        """The datasets `who` may see whose name, description or citation (its authors)
        holds `text`: by name, newest version first."""
        d = HubDataset
        query = (
            select(d)
            .where(_visible(who, d.public, d.owner_id))
            .options(joinedload(d.owner))
            .order_by(d.name, d.created_at.desc(), d.id.desc())
            .limit(limit)
        )
        if text:
            query = query.where(_holds(text, d.name, d.description, d.citation))
        return list(self.s.scalars(query))

    # -- helpers --------------------------------------------------------------------------

    def _flush(self, conflict: str) -> None:
        try:
            self.s.flush()
        except IntegrityError as exc:  # a concurrent request took the name first
            raise Conflict(conflict) from exc


def _visible(who: Principal, public: Any, owner: Any) -> ColumnElement[bool]:
    if who.is_admin:
        return true()
    return or_(public.is_(True), owner == who.user_id)


def _holds(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, ignoring case; % and _ in it are plain characters."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(*(c.ilike(f"%{escaped}%", escape="\\") for c in columns))


def _exists(architecture: str, version: str) -> str:
    return f"{architecture} weights {version!r} already exist; choose a new version"


def _check_name(kind: str, name: str) -> None:
    try:
        check_name(kind, name)
    except ValueError as exc:
        raise PlatformError(str(exc), param=kind) from exc


def _check_torch_file(data: bytes) -> None:
    """Refuse what `torch.load` could not read, without importing torch into the server:
    torch.save has written a zip archive holding `data.pkl` since PyTorch 1.6."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        names = []
    if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        raise PlatformError(
            "the file is not PyTorch weights: send a state_dict written by torch.save",
            code="not_torch_weights",
        )


def _check_file(index: int, entry: dict[str, Any]) -> dict[str, Any]:
    where = f"files[{index}]"
    path = entry.get("path")
    sha256 = str(entry.get("sha256", "")).lower()
    size = entry.get("bytes")
    if not isinstance(path, str) or not path:
        raise PlatformError(f"{where}.path must name the file", param=where)
    if not SHA256_RE.match(sha256):
        raise PlatformError(f"{where}.sha256 must be 64 hexadecimal digits", param=where)
    if not isinstance(size, int) or size < 0:
        raise PlatformError(f"{where}.bytes must be the file's size in bytes", param=where)
    return {"path": path, "sha256": sha256, "bytes": size, "split": str(entry.get("split", ""))}

"""`client.files`: your storage home and the public area (list, upload, download, quotas).

    client.files.upload("events.root", "data/events.root")   # chunked, resumable, checksummed
    client.files.download("data/events.root", "copy.root")
    client.files.list("data")["entries"]
    client.files.move("data/events.root", "data/run1/events.root")
    client.files.mkdir("data/run2")
    client.files.quota()                                      # usage and limits

`area` is `home` (yours, or with `user=` another user's for admins) or `public`.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from hakutaku.sdk._resource import Record, Resource, query, segment
from hakutaku.sdk.errors import APIError, ConnectionFailed

Progress = Callable[[int, int], None]  # (bytes done, total)
T = TypeVar("T")
HASH_BLOCK = 1024 * 1024


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def file_url(area: str, path: str) -> str:
    return f"/api/files/{segment(area)}/{quote(path.lstrip('/'), safe='/')}"


class Files(Resource):
    """`/api/files`. An entry: `name`, `path`, `type` (file, dir, link), `size`, `modified`.
    An upload: `id`, `area`, `path`, `size`, `sha256`, `received`, `state`, `chunk_size_max`.
    A quota report: `user`, `used_bytes`, `used_files`, `reserved_bytes`, `reserved_files`,
    `max_bytes`, `max_files`, `custom`."""

    # -- reading ------------------------------------------------------------------------------

    def list(self, path: str = "", *, area: str = "home", user: str | None = None) -> Record:
        """A folder (or one file) (GET /api/files/list):
        `{area, user, path, type, entries: [entry, ...]}`. 404 when it does not exist."""
        params = query(area=area, path=path, user=user or None)
        return self._client._object("GET", "/api/files/list", params=params)

    def read_bytes(self, path: str, *, area: str = "home", user: str | None = None) -> bytes:
        """A whole file in memory (GET /api/files/{area}/{path})."""
        params = query(user=user or None)
        return self._client._request("GET", file_url(area, path), params=params).content

    def download(
        self,
        path: str,
        local: str | os.PathLike[str],
        *,
        area: str = "home",
        user: str | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """Stream a file to `local` (written beside it first, renamed when complete)."""
        local = Path(local)
        if local.is_dir():
            local = local / Path(path).name
        partial = local.with_name(local.name + ".part")
        try:
            with self._client._stream(
                "GET",
                file_url(area, path),
                what=f"download of {path!r}",
                params=query(user=user or None),
            ) as response:
                total = int(response.headers.get("content-length", 0))
                done = 0
                with open(partial, "wb") as f:
                    for block in response.iter_bytes(HASH_BLOCK):
                        f.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, local)
        return local

    # -- writing ------------------------------------------------------------------------------

    def write_bytes(
        self, path: str, data: bytes, *, area: str = "home", overwrite: bool = False
    ) -> Record:
        """A small file in one request (PUT /api/files/{area}/{path}; up to the server's body
        limit). 409 when it exists and not `overwrite`. Returns its entry."""
        return self._client._object(
            "PUT",
            file_url(area, path),
            params={"overwrite": overwrite},
            content=data,
            headers={"content-type": "application/octet-stream"},
        )

    def upload(
        self,
        local: str | os.PathLike[str],
        path: str,
        *,
        area: str = "home",
        overwrite: bool = False,
        chunk_size: int | None = None,
        retries: int = 5,
        progress: Progress | None = None,
    ) -> Record:
        """Upload a file of any size in chunks, with its SHA-256 checked by the server.

        Resumable: the server keeps an unfinished upload of the same path, size and checksum,
        so running this again after a crash (or a lost connection) continues where the server
        stands. Connection failures are retried `retries` times, with a growing pause.
        The quota is checked before the first byte is sent. Returns the file's entry.
        """
        local = Path(local)
        size = local.stat().st_size
        digest = sha256_of(local)
        upload = self._retrying(
            retries,
            lambda: self.start_upload(path, size, sha256=digest, area=area, overwrite=overwrite),
        )
        step = min(chunk_size or upload["chunk_size_max"], upload["chunk_size_max"])
        offset = upload["received"]
        if progress:
            progress(offset, size)
        with open(local, "rb") as f:
            while offset < size:
                f.seek(offset)
                chunk = f.read(step)
                offset = self._retrying(retries, partial(self._append, upload["id"], offset, chunk))
                if progress:
                    progress(offset, size)
        return self._retrying(
            retries,
            lambda: self.complete_upload(upload["id"], sha256=digest, overwrite=overwrite),
        )

    def _append(self, upload_id: str, offset: int, chunk: bytes) -> int:
        """Send one chunk; the offset of the next. A 409 tells where the server stands."""
        try:
            return int(self.send_chunk(upload_id, offset, chunk)["received"])
        except APIError as error:
            if error.status != 409 or error.code != "offset_mismatch":
                raise
            # A retried chunk that had in fact arrived, or another client: continue from
            # where the server stands.
            return int(self.progress(upload_id)["received"])

    @staticmethod
    def _retrying(retries: int, step: Callable[[], T]) -> T:
        for attempt in range(retries + 1):
            try:
                return step()
            except ConnectionFailed:
                if attempt == retries:
                    raise
                time.sleep(min(30.0, 0.5 * 2**attempt))
        raise AssertionError("unreachable")

    # -- the upload steps, one request each (upload() does them all) -------------------------

    def start_upload(
        self,
        path: str,
        size: int,
        *,
        sha256: str | None = None,
        area: str = "home",
        overwrite: bool = False,
    ) -> Record:
        """Start an upload of `size` bytes, or resume the open one of the same path, size and
        checksum (`resumed` is then true) (POST /api/files/uploads). Its `received` is the
        offset of the next chunk. Over the quota: 413."""
        body = {"path": path, "size": size, "sha256": sha256, "area": area, "overwrite": overwrite}
        return self._client._object("POST", "/api/files/uploads", json=body)

    def send_chunk(self, upload_id: str, offset: int, chunk: bytes) -> Record:
        """Append `chunk` at `offset` (PUT /api/files/uploads/{id}?offset=); 409
        `offset_mismatch` when the server stands elsewhere. Returns the upload."""
        return self._client._object(
            "PUT",
            f"/api/files/uploads/{segment(upload_id)}",
            params={"offset": offset},
            content=chunk,
            headers={"content-type": "application/octet-stream"},
        )

    def complete_upload(
        self, upload_id: str, *, sha256: str | None = None, overwrite: bool = False
    ) -> Record:
        """Check the upload's size and checksum and move it into place (POST
        /api/files/uploads/{id}/complete). Returns the file's entry."""
        return self._client._object(
            "POST",
            f"/api/files/uploads/{segment(upload_id)}/complete",
            json={"sha256": sha256, "overwrite": overwrite},
        )

    def progress(self, upload_id: str) -> Record:
        """One unfinished upload (GET /api/files/uploads/{id})."""
        return self._client._object("GET", f"/api/files/uploads/{segment(upload_id)}")

    def uploads(self) -> builtins.list[Record]:
        """Your unfinished uploads (GET /api/files/uploads)."""
        return self._client._objects("GET", "/api/files/uploads")

    def cancel_upload(self, upload_id: str) -> Record:
        """Cancel an upload, freeing its reserved quota (DELETE /api/files/uploads/{id})."""
        return self._client._object("DELETE", f"/api/files/uploads/{segment(upload_id)}")

    def delete(self, path: str, *, area: str = "home", recursive: bool = False) -> Record:
        """Delete a file, or with `recursive` a folder and all in it (DELETE
        /api/files/{area}/{path}). Returns the entry deleted."""
        return self._client._object("DELETE", file_url(area, path), params={"recursive": recursive})

    def move(self, path: str, to: str, *, area: str = "home", overwrite: bool = False) -> Record:
        """Move or rename a file or folder within its area (POST /api/files/move); the parents
        of `to` are made as needed. 409 when `to` exists (a file is replaced only with
        `overwrite`; a folder never). Returns the entry at its new path."""
        body = {"path": path, "to": to, "area": area, "overwrite": overwrite}
        return self._client._object("POST", "/api/files/move", json=body)

    def mkdir(self, path: str, *, area: str = "home", exist_ok: bool = False) -> Record:
        """Make a folder and its parents (POST /api/files/folders). 409 when it exists, unless
        `exist_ok`. Returns its entry."""
        body = {"path": path, "area": area, "exist_ok": exist_ok}
        return self._client._object("POST", "/api/files/folders", json=body)

    # -- quotas -------------------------------------------------------------------------------

    def quota(self, user: str | None = None) -> Record:
        """Usage and limits (GET /api/files/quota): yours, or (admins) any user's."""
        return self._client._object("GET", "/api/files/quota", params=query(user=user or None))

    def set_quota(
        self, user: str, *, max_bytes: int | None = None, max_files: int | None = None
    ) -> Record:
        """Set a user's limits (PUT /api/files/quota/{user}; admin); one left out keeps its
        value."""
        return self._client._object(
            "PUT",
            f"/api/files/quota/{segment(user)}",
            json={"max_bytes": max_bytes, "max_files": max_files},
        )

    def reset_quota(self, user: str) -> Record:
        """Give a user the default limits again (DELETE /api/files/quota/{user}; admin)."""
        return self._client._object("DELETE", f"/api/files/quota/{segment(user)}")

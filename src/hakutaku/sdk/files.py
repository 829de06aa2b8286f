"""`client.files`: your storage home and the public area (list, upload, download, quotas).

files = Files(client)
files.upload("events.root", "data/events.root")       # chunked, resumable, checksummed
files.download("data/events.root", "copy.root")
files.list("data")
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from hakutaku.sdk.errors import ConnectionFailed, from_response

if TYPE_CHECKING:
    from hakutaku.sdk.client import Client

Progress = Callable[[int, int], None]  # (bytes done, total)
HASH_BLOCK = 1024 * 1024


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def file_url(area: str, path: str) -> str:
    return f"/api/files/{quote(area, safe='')}/{quote(path.lstrip('/'), safe='/')}"


class Files:
    def __init__(self, client: Client) -> None:
        self._client = client

    # -- reading ------------------------------------------------------------------------------

    def list(
        self, path: str = "", *, area: str = "home", user: str | None = None
    ) -> dict[str, Any]:
        """`{area, user, path, type, entries: [{name, path, type, size, modified}]}`."""
        params = {"area": area, "path": path, **({"user": user} if user else {})}
        return self._client._request_json("GET", "/api/files/list", params=params)

    def read_bytes(self, path: str, *, area: str = "home", user: str | None = None) -> bytes:
        response = self._client._send(
            "GET", file_url(area, path), params={"user": user} if user else None
        )
        if response.status_code >= 400:
            raise from_response(response)
        return response.content

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
        params = {"user": user} if user else None
        http = self._client._http
        try:
            with http.stream("GET", file_url(area, path), params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise from_response(response)
                total = int(response.headers.get("content-length", 0))
                done = 0
                with open(partial, "wb") as f:
                    for block in response.iter_bytes(HASH_BLOCK):
                        f.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ConnectionFailed(0, f"download of {path!r} broke off ({exc}); retry") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, local)
        return local

    # -- writing ------------------------------------------------------------------------------

    def write_bytes(
        self, path: str, data: bytes, *, area: str = "home", overwrite: bool = False
    ) -> dict[str, Any]:
        """A small file in one request (up to the server's body limit)."""
        return self._client._request_json(
            "PUT",
            file_url(area, path),
            params={"overwrite": str(overwrite).lower()},
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
    ) -> dict[str, Any]:
        """Upload a file of any size in chunks, with its SHA-256 checked by the server.

        Resumable: the server keeps an unfinished upload of the same path, size and checksum,
        so running this again after a crash (or a lost connection) continues where the server
        stands. Connection failures are retried `retries` times, with a growing pause.
        """
        local = Path(local)
        size = local.stat().st_size
        digest = sha256_of(local)
        body = {"path": path, "size": size, "sha256": digest, "area": area, "overwrite": overwrite}
        upload = self._retrying(
            retries, lambda: self._client._request_json("POST", "/api/files/uploads", json=body)
        )
        step = min(chunk_size or upload["chunk_size_max"], upload["chunk_size_max"])
        offset = upload["received"]
        if progress:
            progress(offset, size)
        with open(local, "rb") as f:
            while offset < size:
                f.seek(offset)
                chunk = f.read(step)
                offset = self._retrying(
                    retries, lambda at=offset, data=chunk: self._send_chunk(upload["id"], at, data)
                )
                if progress:
                    progress(offset, size)
        return self._retrying(
            retries,
            lambda: self._client._request_json(
                "POST",
                f"/api/files/uploads/{upload['id']}/complete",
                json={"sha256": digest, "overwrite": overwrite},
            ),
        )

    def _send_chunk(self, upload_id: str, offset: int, chunk: bytes) -> int:
        """Send one chunk; the offset of the next. A 409 tells where the server stands."""
        response = self._client._send(
            "PUT",
            f"/api/files/uploads/{upload_id}",
            params={"offset": offset},
            content=chunk,
            headers={"content-type": "application/octet-stream"},
        )
        if response.status_code == 409:
            error = from_response(response)
            if error.code != "offset_mismatch":
                raise error
            # A retried chunk that had in fact arrived, or another client: continue from
            # where the server stands.
            return self.progress(upload_id)["received"]
        if response.status_code >= 400:
            raise from_response(response)
        return response.json()["received"]

    @staticmethod
    def _retrying(retries: int, step: Callable[[], Any]) -> Any:
        for attempt in range(retries + 1):
            try:
                return step()
            except ConnectionFailed:
                if attempt == retries:
                    raise
                time.sleep(min(30.0, 0.5 * 2**attempt))
        raise AssertionError("unreachable")

    def progress(self, upload_id: str) -> dict[str, Any]:
        return self._client._request_json("GET", f"/api/files/uploads/{upload_id}")

    def uploads(self) -> list[dict[str, Any]]:
        """Your unfinished uploads."""
        return self._client._request_json("GET", "/api/files/uploads")

    def cancel_upload(self, upload_id: str) -> dict[str, Any]:
        return self._client._request_json("DELETE", f"/api/files/uploads/{upload_id}")

    def delete(self, path: str, *, area: str = "home", recursive: bool = False) -> dict[str, Any]:
        return self._client._request_json(
            "DELETE", file_url(area, path), params={"recursive": str(recursive).lower()}
        )

    # -- quotas -------------------------------------------------------------------------------

    def quota(self, user: str | None = None) -> dict[str, Any]:
        """Usage and limits: yours, or (admins) any user's."""
        return self._client._request_json(
            "GET", "/api/files/quota", params={"user": user} if user else None
        )

    def set_quota(
        self, user: str, *, max_bytes: int | None = None, max_files: int | None = None
    ) -> dict[str, Any]:
        """Set a user's limits (admin); one left out keeps its value."""
        return self._client._request_json(
            "PUT",
            f"/api/files/quota/{quote(user, safe='')}",
            json={"max_bytes": max_bytes, "max_files": max_files},
        )

    def reset_quota(self, user: str) -> dict[str, Any]:
        """Give a user the default limits again (admin)."""
        return self._client._request_json("DELETE", f"/api/files/quota/{quote(user, safe='')}")

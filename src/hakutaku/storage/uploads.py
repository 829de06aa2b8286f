"""Chunked, resumable uploads: create (quota checked), append chunks, complete (checksum, move).

The state is the `uploads` row plus a part file in the root's hidden `.uploads/` folder, so an
upload survives a server restart and can be finished through any replica. A chunk is made
durable (fsync) before its row says it was received; if the row and the part file ever disagree
(a crash between the two), the shorter of the two is what counts.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hakutaku.db.models import Upload, User, utcnow
from hakutaku.db.session import affected_rows
from hakutaku.errors import Conflict, NotFound, PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.storage.errors import (
    ChecksumMismatch,
    InsufficientStorage,
    OffsetMismatch,
    SizeExceeded,
)
from hakutaku.storage.quota import Usage, check_room, format_size, measure
from hakutaku.storage.service import Area, Entry, Storage, entry_of, make_parents, target_path

# Unfinished uploads untouched this long are dropped (and their reservation freed).
UPLOAD_EXPIRY = timedelta(days=7)
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
HASH_BLOCK = 1024 * 1024


def check_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not SHA256_RE.match(value):
        raise PlatformError(
            "sha256 must be 64 hexadecimal digits (the output of `sha256sum`).", param="sha256"
        )
    return value


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class Uploads:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def part_file(self, upload_id: str) -> Path:
        return self.storage.parts / f"{upload_id}.part"

    def received(self, row: Upload) -> int:
        """Bytes safely received: the row's count, unless the part file holds fewer."""
        try:
            on_disk = self.part_file(row.id).stat().st_size
        except FileNotFoundError:
            on_disk = 0
        return min(row.received, on_disk)

    # -- create -------------------------------------------------------------------------------

    def create(
        self,
        s: Session,
        who: Principal,
        area: Area,
        path: str,
        size: int,
        sha256: str | None = None,
        *,
        overwrite: bool = False,
        resume: bool = True,
    ) -> tuple[Upload, bool]:
        """A new upload, or the caller's open one for the same file (True: resumed).

        The quota is checked here, before any byte is accepted, with the declared size. The
        check and the insert run under a lock (and, on PostgreSQL, a row lock on the user) and
        are committed before it is released, so parallel creations see each other's reservation.
        """
        if size < 0:
            raise PlatformError("size must be zero or more bytes.", param="size")
        sha256 = check_sha256(sha256)
        rel, target = target_path(area, path)
        self.expire_stale(s)

        with self.storage.lock(f"user:{who.user_id}"):
            s.execute(select(User.id).where(User.id == who.user_id).with_for_update())
            same_path = s.scalars(
                select(Upload).where(
                    Upload.user_id == who.user_id,
                    Upload.area == area.name,
                    Upload.path == rel.as_posix(),
                    Upload.state == "open",
                )
            ).all()
            for row in same_path:
                if resume and sha256 is not None and row.size == size and row.sha256 == sha256:
                    return row, True

            existing = self._existing_file(rel.as_posix(), target, overwrite)
            if area.owner_id is not None:
                adding = Usage(size - existing.bytes, 1 - existing.files)
                limits, _ = self.storage.limits(s, area.owner_id)
                used = measure(area.folder)
                # Older uploads of this path are dropped below: they stop holding quota.
                superseded = Usage(sum(r.size for r in same_path), len(same_path))
                reserved = self.storage.reserved(s, area.owner_id)
                reserved = Usage(
                    reserved.bytes - superseded.bytes, reserved.files - superseded.files
                )
                check_room(area.owner or who.user, limits, used, reserved, adding)
            self._check_disk(size)
            # The newest upload of a path wins (dropped only now that the new one is accepted,
            # so a refusal leaves the old one intact).
            for row in same_path:
                self.discard(row, "failed")

            row = Upload(
                id=str(uuid.uuid4()),
                user_id=who.user_id,
                area=area.name,
                path=rel.as_posix(),
                size=size,
                sha256=sha256,
                received=0,
                state="open",
            )
            self.storage.parts.mkdir(parents=True, exist_ok=True)
            self.part_file(row.id).touch()
            s.add(row)
            s.commit()
        return row, False

    def _existing_file(self, rel: str, target: Path, overwrite: bool) -> Usage:
        """What the upload would replace (counted back from the quota), after the clobber check."""
        try:
            st = target.lstat()
        except FileNotFoundError:
            return Usage()
        if target.is_dir() and not target.is_symlink():
            raise Conflict(
                f"{rel!r} is a folder; choose a file name inside it.",
                param="path",
                code="is_a_folder",
            )
        if not overwrite:
            raise Conflict(
                f"{rel!r} already exists. Pass overwrite=true (`hai files upload --force`) to "
                "replace it, or choose another name.",
                param="path",
                code="file_exists",
            )
        return Usage(st.st_size, 1)

    def _check_disk(self, size: int) -> None:
        self.storage.root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.storage.root).free
        if size > free:
            raise InsufficientStorage(
                f"The storage file system has {format_size(free)} free, less than the "
                f"{format_size(size)} of this upload. Tell an operator; retry later."
            )

    # -- look up ------------------------------------------------------------------------------

    def get(self, s: Session, who: Principal, upload_id: str, *, lock: bool = False) -> Upload:
        query = select(Upload).where(Upload.id == upload_id)
        if lock:
            query = query.with_for_update()
        row = s.scalar(query)
        # Someone else's upload answers as absent (admins included: an upload is its
        # uploader's business until it lands).
        if row is None or row.user_id != who.user_id:
            raise NotFound(
                f"No upload {upload_id!r}; list your unfinished uploads with "
                "GET /api/files/uploads (`hai files uploads`).",
                param="upload_id",
            )
        return row

    def open_uploads(self, s: Session, who: Principal) -> list[Upload]:
        return list(
            s.scalars(
                select(Upload)
                .where(Upload.user_id == who.user_id, Upload.state == "open")
                .order_by(Upload.created_at)
            )
        )

    def _open(self, row: Upload) -> None:
        if row.state != "open":
            raise Conflict(
                f"Upload {row.id} is {'complete' if row.state == 'done' else 'discarded'}; "
                "start a new upload to send the file again.",
                code="upload_closed",
            )

    # -- chunks -------------------------------------------------------------------------------

    def check_chunk(self, row: Upload, offset: int, length: int) -> int:
        """Raise unless `length` bytes may be written at `offset`; the bytes received so far."""
        self._open(row)
        received = self.received(row)
        if offset != received:
            raise OffsetMismatch(row.id, offset, received)
        if received + length > row.size:
            raise SizeExceeded(row.id, row.size, received, length)
        return received

    def write_chunk(
        self, s: Session, who: Principal, upload_id: str, offset: int, data: bytes
    ) -> Upload:
        """Append `data` at `offset`, which must be the bytes received so far."""
        with self.storage.lock(f"upload:{upload_id}"):
            row = self.get(s, who, upload_id, lock=True)
            self.check_chunk(row, offset, len(data))
            # O_CREAT: a part file lost from disk restarts at offset 0 (see `received`).
            fd = os.open(self.part_file(row.id), os.O_RDWR | os.O_CREAT, 0o600)
            with os.fdopen(fd, "r+b") as f:
                # Drop what a broken earlier chunk may have left past the received mark.
                f.truncate(offset)
                f.seek(offset)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # Conditional on the old count, so that a second replica writing the same upload
            # at the same moment is told to resume instead of both counting their bytes.
            moved = s.execute(
                update(Upload)
                .where(Upload.id == row.id, Upload.received == row.received)
                .values(received=offset + len(data), updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if affected_rows(moved) != 1:
                raise OffsetMismatch(row.id, offset, self.received(row))
            s.commit()
            s.refresh(row)
            return row

    # -- finish -------------------------------------------------------------------------------

    def complete(
        self,
        s: Session,
        who: Principal,
        upload_id: str,
        sha256: str | None = None,
        *,
        overwrite: bool = False,
    ) -> Entry:
        """Check size and SHA-256, then move the part file into place atomically.

        `overwrite` is given again here (the uploads table keeps no such flag): without it an
        existing file is never replaced, even one created after the upload began.

        A checksum mismatch discards the upload: every byte was received, so resuming could
        not fix it; the client starts over. A name taken meanwhile (without overwrite) keeps
        the upload open, so the caller can free the name and complete again.
        """
        sha256 = check_sha256(sha256)
        with self.storage.lock(f"upload:{upload_id}"):
            row = self.get(s, who, upload_id, lock=True)
            self._open(row)
            received = self.received(row)
            if received != row.size:
                raise Conflict(
                    f"Upload {row.id} has received {received} of {row.size} bytes; send the rest "
                    f"from offset={received} before completing it.",
                    code="upload_incomplete",
                )
            if row.sha256 and sha256 and row.sha256 != sha256:
                raise PlatformError(
                    f"The sha256 given now ({sha256}) differs from the one declared when the "
                    f"upload was created ({row.sha256}).",
                    param="sha256",
                )
            # Checked again: the right to write the public area may have been withdrawn.
            area = self.storage.area(s, who, row.area, write=True)
            expected = row.sha256 or sha256
            part = self.part_file(row.id)
            actual = file_sha256(part)
            if expected is not None and actual != expected:
                self.discard(row, "failed")
                s.commit()  # the discard stands although the request fails
                raise ChecksumMismatch(expected, actual, row.id)

            rel, target = target_path(area, row.path)
            make_parents(area, rel.as_posix(), target)
            self._place(part, target, rel.as_posix(), replace=overwrite)
            row.state = "done"
            row.sha256 = actual
            row.received = row.size
            row.updated_at = utcnow()
            s.commit()
            return entry_of(target, area.folder)

    def _place(self, part: Path, target: Path, rel: str, *, replace: bool) -> None:
        if replace:
            try:
                os.replace(part, target)
            except IsADirectoryError:
                raise Conflict(f"{rel!r} is a folder.", param="path", code="is_a_folder") from None
            return
        try:
            # A hard link never replaces an existing name: no-clobber, atomically.
            os.link(part, target)
        except FileExistsError:
            raise Conflict(
                f"{rel!r} was created while uploading. Delete it and complete again, or "
                "start a new upload with overwrite=true.",
                param="path",
                code="file_exists",
            ) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if target.exists():  # a file system without hard links: check, then rename
                raise Conflict(
                    f"{rel!r} already exists.", param="path", code="file_exists"
                ) from None
            os.replace(part, target)
            return
        part.unlink()

    def put_small(
        self,
        s: Session,
        who: Principal,
        area: Area,
        path: str,
        data: bytes,
        sha256: str,
        *,
        overwrite: bool = False,
    ) -> Entry:
        """A whole file in one call, through the same steps (and checks) as a chunked upload."""
        row, _ = self.create(
            s, who, area, path, len(data), sha256, overwrite=overwrite, resume=False
        )
        try:
            self.write_chunk(s, who, row.id, 0, data)
            return self.complete(s, who, row.id, overwrite=overwrite)
        except BaseException:
            s.rollback()
            left = s.get(Upload, row.id)
            if left is not None and left.state == "open":
                self.discard(left, "failed")
                s.commit()
            raise

    # -- cancel and expire --------------------------------------------------------------------

    def cancel(self, s: Session, who: Principal, upload_id: str) -> Upload:
        with self.storage.lock(f"upload:{upload_id}"):
            row = self.get(s, who, upload_id, lock=True)
            self._open(row)
            self.discard(row, "failed")
            return row

    def discard(self, row: Upload, state: str) -> None:
        row.state = state
        row.updated_at = utcnow()
        self.part_file(row.id).unlink(missing_ok=True)

    def expire_stale(self, s: Session) -> None:
        """Drop unfinished uploads idle past `UPLOAD_EXPIRY`, and old finished records."""
        cutoff = utcnow() - UPLOAD_EXPIRY
        for row in s.scalars(
            select(Upload).where(Upload.state == "open", Upload.updated_at < cutoff)
        ):
            self.discard(row, "failed")
        s.execute(delete(Upload).where(Upload.state != "open", Upload.updated_at < cutoff))
        s.commit()  # part files are gone already; the rows must follow even if create fails

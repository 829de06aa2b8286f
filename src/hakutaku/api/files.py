"""`/api/files`: users' homes and the public data area; chunked, resumable uploads.

GET    /api/files/list?area=&path=&user=     list a folder (or stat a file)
GET    /api/files/{area}/{path}              download (Range supported)
PUT    /api/files/{area}/{path}              small upload in one request (body = bytes)
DELETE /api/files/{area}/{path}              delete (?recursive=true for folders)
POST   /api/files/move                       move or rename a file or folder in its area
POST   /api/files/folders                    make a folder (and its parents)
POST   /api/files/uploads                    start (or resume) a chunked upload
GET    /api/files/uploads[/{id}]             unfinished uploads / one upload's progress
PUT    /api/files/uploads/{id}?offset=N      append a chunk (body = bytes)
POST   /api/files/uploads/{id}/complete      verify and move into place
DELETE /api/files/uploads/{id}               cancel
GET    /api/files/quota?user=                usage and limits
PUT    /api/files/quota/{user}               set limits (admin); DELETE resets them
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from pathlib import PurePosixPath

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import FileResponse

from hakutaku.api.deps import DatabaseDep, UploadsDep, admin, caller, db_session
from hakutaku.api.opened_file import OpenedFileResponse
from hakutaku.api.schemas import RAW_BODY
from hakutaku.db.models import Upload
from hakutaku.errors import Forbidden
from hakutaku.gateway.http import read_body
from hakutaku.identity.auth import Principal
from hakutaku.identity.service import get_user
from hakutaku.storage.service import QuotaReport
from hakutaku.storage.uploads import Uploads

router = APIRouter(prefix="/api/files", tags=["files"])

# -- wire schemas ------------------------------------------------------------------------------


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # EntryOut.model_validate(entry)

    name: str
    path: str = Field(description="Relative to the area.")
    type: str = Field(description="file | dir | link")
    size: int
    modified: datetime


class ListingOut(BaseModel):
    area: str
    user: str | None = Field(description="Whose home; null for the public area.")
    path: str
    type: str = Field(description="dir, or file when `path` names a file")
    entries: list[EntryOut]


class UploadIn(BaseModel):
    path: str = Field(description="Where the file goes, relative to the area.")
    size: int = Field(ge=0, description="Total bytes; checked against the quota now.")
    sha256: str | None = Field(default=None, description="Hex SHA-256, checked on completion.")
    area: str = "home"
    overwrite: bool = False


class MoveIn(BaseModel):
    path: str = Field(description="The file, link or folder to move, relative to the area.")
    to: str = Field(description="Its new path in the same area; parents are made as needed.")
    area: str = "home"
    overwrite: bool = Field(
        default=False, description="Replace an existing file at `to` (never a folder)."
    )


class FolderIn(BaseModel):
    path: str = Field(description="The new folder, relative to the area; parents are made.")
    area: str = "home"
    exist_ok: bool = Field(default=False, description="An existing folder is not an error.")


class UploadOut(BaseModel):
    id: str
    area: str
    path: str
    size: int
    sha256: str | None
    received: int = Field(description="Bytes received: the offset of the next chunk.")
    state: str = Field(description="open | done | failed")
    chunk_size_max: int
    resumed: bool = Field(default=False, description="An open upload of this file was found.")
    created_at: datetime
    updated_at: datetime


class CompleteIn(BaseModel):
    sha256: str | None = None
    overwrite: bool = Field(default=False, description="Replace an existing file.")


class QuotaOut(BaseModel):
    user: str
    used_bytes: int
    used_files: int
    reserved_bytes: int = Field(description="Declared sizes of unfinished uploads.")
    reserved_files: int
    max_bytes: int
    max_files: int
    custom: bool = Field(description="True when an admin set this user's limits.")


class QuotaIn(BaseModel):
    max_bytes: int | None = Field(default=None, ge=0, description="Unchanged when null.")
    max_files: int | None = Field(default=None, ge=0, description="Unchanged when null.")


def quota_out(report: QuotaReport) -> QuotaOut:
    return QuotaOut(
        user=report.user,
        used_bytes=report.used.bytes,
        used_files=report.used.files,
        reserved_bytes=report.reserved.bytes,
        reserved_files=report.reserved.files,
        max_bytes=report.limits.max_bytes,
        max_files=report.limits.max_files,
        custom=report.custom,
    )


def upload_out(uploads: Uploads, row: Upload, resumed: bool = False) -> UploadOut:
    return UploadOut(
        id=row.id,
        area=row.area,
        path=row.path,
        size=row.size,
        sha256=row.sha256,
        received=uploads.received(row) if row.state == "open" else row.received,
        state=row.state,
        chunk_size_max=uploads.storage.chunk_size_max,
        resumed=resumed,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# -- dependencies ------------------------------------------------------------------------------


# -- quotas ------------------------------------------------------------------------------------


@router.get("/quota", response_model=QuotaOut)
def get_quota(
    uploads: UploadsDep,
    user: str | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> QuotaOut:
    """Your storage usage and limits (admins: any user's)."""
    if user not in (None, who.user) and not who.is_admin:
        raise Forbidden("Only admins may read other users' quotas.", param="user")
    storage = uploads.storage
    return quota_out(storage.quota_report(s, get_user(s, user or who.user)))


@router.put("/quota/{user}", response_model=QuotaOut, dependencies=[Depends(admin)])
def set_quota(
    user: str,
    body: QuotaIn,
    uploads: UploadsDep,
    s: Session = Depends(db_session, scope="function"),
) -> QuotaOut:
    """Set a user's limits (admin); a limit left out keeps its current value."""
    storage = uploads.storage
    return quota_out(storage.set_quota(s, get_user(s, user), body.max_bytes, body.max_files))


@router.delete("/quota/{user}", response_model=QuotaOut, dependencies=[Depends(admin)])
def reset_quota(
    user: str, uploads: UploadsDep, s: Session = Depends(db_session, scope="function")
) -> QuotaOut:
    """Give a user the default limits again (admin)."""
    return quota_out(uploads.storage.reset_quota(s, get_user(s, user)))


# -- listing -----------------------------------------------------------------------------------


@router.get("/list", response_model=ListingOut)
def list_files(
    uploads: UploadsDep,
    area: str = "home",
    path: str = "",
    user: str | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> ListingOut:
    """A folder's entries, or the one entry of a file; links are shown, not followed."""
    storage = uploads.storage
    where = storage.area(s, who, area, user, write=False)
    kind, entries = storage.listing(where, path)
    return ListingOut(
        area=where.name,
        user=where.owner,
        path=path.strip("/"),
        type=kind,
        entries=[EntryOut.model_validate(e) for e in entries],
    )


# -- moving and new folders ---------------------------------------------------------------------


@router.post("/move", response_model=EntryOut)
def move(
    body: MoveIn,
    uploads: UploadsDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> EntryOut:
    """Move or rename a file, link or folder within its area; returns it at its new path.

    409 `file_exists` when `to` is taken (a file: pass `overwrite`), `folder_exists` when `to`
    is a folder (give the path inside it); 400 `move_into_itself` for a folder moved under
    itself."""
    storage = uploads.storage
    where = storage.area(s, who, body.area, write=True)
    entry = storage.move(where, body.path, body.to, overwrite=body.overwrite)
    return EntryOut.model_validate(entry)


@router.post("/folders", response_model=EntryOut, status_code=201)
def make_folder(
    body: FolderIn,
    uploads: UploadsDep,
    response: Response,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> EntryOut:
    """Make a folder and any missing parents (201). An existing folder is 409
    `folder_exists`, or 200 with `exist_ok`; a file of that name is 409 `file_exists`."""
    storage = uploads.storage
    where = storage.area(s, who, body.area, write=True)
    entry, made = storage.make_folder(where, body.path, exist_ok=body.exist_ok)
    if not made:
        response.status_code = 200
    return EntryOut.model_validate(entry)


# -- chunked uploads (declared before /{area}/{path}, which would also match them) -------------


@router.get("/uploads", response_model=list[UploadOut])
def list_uploads(
    uploads: UploadsDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[UploadOut]:
    """Your unfinished uploads."""
    return [upload_out(uploads, row) for row in uploads.open_uploads(s, who)]


@router.post("/uploads", response_model=UploadOut, status_code=201)
def create_upload(
    body: UploadIn,
    uploads: UploadsDep,
    response: Response,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> UploadOut:
    """Start an upload; the quota is checked now, with the declared size.

    If you already have an open upload of the same path, size and sha256, that one is returned
    (200, `resumed: true`) so that you continue from its `received` offset.
    """
    where = uploads.storage.area(s, who, body.area, write=True)
    row, resumed = uploads.create(
        s, who, where, body.path, body.size, body.sha256, overwrite=body.overwrite
    )
    if resumed:
        response.status_code = 200
    return upload_out(uploads, row, resumed)


@router.get("/uploads/{upload_id}", response_model=UploadOut)
def get_upload(
    upload_id: str,
    uploads: UploadsDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> UploadOut:
    """An upload's progress: send the next chunk at offset `received`."""
    return upload_out(uploads, uploads.get(s, who, upload_id))


@router.put("/uploads/{upload_id}", response_model=UploadOut, openapi_extra=RAW_BODY)
async def put_chunk(
    upload_id: str,
    request: Request,
    uploads: UploadsDep,
    db: DatabaseDep,
    offset: int = Query(ge=0, description="Must equal the upload's `received`."),
    who: Principal = Depends(caller),
) -> UploadOut:
    """Append the request body (raw bytes) at `offset`; 409 `offset_mismatch` says where to
    resume. A chunk may be at most `chunk_size_max` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        # Refuse a chunk at the wrong offset or past the declared size before reading it.
        def precheck() -> None:
            with db.session() as s:
                uploads.check_chunk(uploads.get(s, who, upload_id), offset, int(declared))

        await asyncio.to_thread(precheck)
    data = await read_body(request, uploads.storage.chunk_size_max)

    def write() -> UploadOut:
        with db.session() as s:
            return upload_out(uploads, uploads.write_chunk(s, who, upload_id, offset, data))

    return await asyncio.to_thread(write)


@router.post("/uploads/{upload_id}/complete", response_model=EntryOut)
def complete_upload(
    upload_id: str,
    uploads: UploadsDep,
    body: CompleteIn | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> EntryOut:
    """Check size and SHA-256 and move the file into place. On `checksum_mismatch` (400) the
    upload is discarded: start again."""
    body = body or CompleteIn()
    entry = uploads.complete(s, who, upload_id, body.sha256, overwrite=body.overwrite)
    return EntryOut.model_validate(entry)


@router.delete("/uploads/{upload_id}", response_model=UploadOut)
def cancel_upload(
    upload_id: str,
    uploads: UploadsDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> UploadOut:
    """Cancel an unfinished upload and free its reservation."""
    return upload_out(uploads, uploads.cancel(s, who, upload_id))


# -- files -------------------------------------------------------------------------------------


@router.get("/{area}/{path:path}", response_class=FileResponse)
def download(
    area: str,
    path: str,
    uploads: UploadsDep,
    user: str | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> FileResponse:
    """The file's bytes, streamed; `Range: bytes=A-B` gets a part (206)."""
    storage = uploads.storage
    where = storage.area(s, who, area, user, write=False)
    fd = storage.open_to_read(where, path)
    return OpenedFileResponse(
        fd, filename=PurePosixPath(path).name, content_disposition_type="attachment"
    )


@router.put("/{area}/{path:path}", response_model=EntryOut, status_code=201, openapi_extra=RAW_BODY)
async def put_file(
    area: str,
    path: str,
    request: Request,
    uploads: UploadsDep,
    db: DatabaseDep,
    overwrite: bool = False,
    sha256: str | None = Query(default=None, description="Checked against the body if given."),
    user: str | None = Query(default=None, description="Refused: admins may only read homes."),
    who: Principal = Depends(caller),
) -> EntryOut:
    """Upload a small file (at most `chunk_size_max` bytes) in one request; same quota check.
    Use the chunked uploads for anything larger."""
    data = await read_body(request, uploads.storage.chunk_size_max)

    def put() -> EntryOut:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        with db.session() as s:
            where = uploads.storage.area(s, who, area, user, write=True)
            entry = uploads.put_small(s, who, where, path, data, digest, overwrite=overwrite)
            return EntryOut.model_validate(entry)

    return await asyncio.to_thread(put)


@router.delete("/{area}/{path:path}", response_model=EntryOut)
def delete_file(
    area: str,
    path: str,
    uploads: UploadsDep,
    recursive: bool = False,
    user: str | None = Query(default=None, description="Refused: admins may only read homes."),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> EntryOut:
    """Delete a file, a link, or a folder (`recursive=true` when it is not empty)."""
    storage = uploads.storage
    where = storage.area(s, who, area, user, write=True)
    return EntryOut.model_validate(storage.delete(where, path, recursive=recursive))

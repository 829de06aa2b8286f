"""`/api/files`: users' homes and the public data area; chunked, resumable uploads."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/files", tags=["files"])

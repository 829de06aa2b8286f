"""`/api/jobs` and `/api/compute`: submit, follow and cancel jobs; partitions and QOS."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["jobs"])

"""`/api/prices`, `/api/contributions` and `/api/usage/statements`: billing."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["billing"])

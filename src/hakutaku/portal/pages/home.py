"""The dashboard at `/`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hakutaku.portal.auth import User
from hakutaku.portal.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def dashboard(request: Request, user: User) -> Response:
    return render(request, "dashboard.html", {})

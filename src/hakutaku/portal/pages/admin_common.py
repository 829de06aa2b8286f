"""What the admin pages share: the admin-and-CSRF dependency, paging, notices, form values.

Every admin page takes `Admin` (a non-admin gets the 403 page); every admin form takes
`AdminPosting`, which refuses a non-admin *and* a request without the session's CSRF token,
so a user's own valid token does not open an admin form to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import Depends
from fastapi.responses import RedirectResponse
from starlette.requests import Request

from hakutaku.portal.auth import WebUser, admin_only, csrf_checked
from hakutaku.portal.i18n import _
from hakutaku.portal.security import local_path
from hakutaku.server.replica import Replica

T = TypeVar("T")

PAGE_SIZE = 50


async def admin_posting(
    admin: Annotated[WebUser, Depends(admin_only)],
    _checked: Annotated[WebUser, Depends(csrf_checked)],
) -> WebUser:
    return admin


AdminPosting = Annotated[WebUser, Depends(admin_posting)]


async def blocking(work: Callable[[], T]) -> T:
    """Database work (and argon2) off the event loop."""
    return await asyncio.to_thread(work)


def done(path: str, code: str, **query: str) -> RedirectResponse:
    """After a change: back to a page (GET) that says what was done (`?done=code`)."""
    target = urlsplit(local_path(path, "/admin"))
    kept = [(k, v) for k, v in parse_qsl(target.query) if k != "done" and k not in query]
    params = [*kept, *((k, v) for k, v in query.items() if v), ("done", code)]
    return RedirectResponse(f"{target.path}?{urlencode(params)}", status_code=303)


def notice(request: Request, messages: Mapping[str, str]) -> str | None:
    """The translated notice of `?done=code`, if the code is one of this page's."""
    code = request.query_params.get("done") or ""
    return _(messages[code]) if code in messages else None


def live_cutoff(replica: Replica) -> datetime:
    """Workers whose last heartbeat is after this moment are live (the gateway's own rule)."""
    return datetime.now(UTC) - timedelta(seconds=replica.settings.heartbeat_timeout)


def page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Paging:
    """Numbered pages of a list whose total is known (users, keys)."""

    number: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (min(self.number, self.pages) - 1) * self.size

    @property
    def current(self) -> int:
        return min(self.number, self.pages)

    def link(self, request: Request, number: int) -> str:
        """This page's address with another page number (its filters kept)."""
        params = {k: v for k, v in request.query_params.items() if k not in ("page", "done")}
        if number > 1:
            params["page"] = str(number)
        query = urlencode(params)
        return request.url.path + (f"?{query}" if query else "")


def names_from(text: str) -> list[str]:
    """Group names typed into one field: separated by commas, spaces or new lines."""
    seen: list[str] = []
    for part in text.replace(",", " ").split():
        if part not in seen:
            seen.append(part)
    return seen

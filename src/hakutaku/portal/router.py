"""Mount the portal on the app: its pages, its static files, and how its errors look.

Pages raise SignInRequired (→ 303 to /login?next=…, or HX-Redirect for htmx), PageForbidden
and CsrfFailed (→ 403 page); unknown paths outside /api and /v1 get a 404 page when the
browser asks for HTML.
"""

from __future__ import annotations

import importlib
import pkgutil
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from hakutaku.portal import pages
from hakutaku.portal.auth import CsrfFailed, PageForbidden, SignInRequired
from hakutaku.portal.i18n import _
from hakutaku.portal.templating import STATIC, render


def page_routers() -> list[APIRouter]:
    """Every module of `portal/pages/` with a `router`: a page family is one module."""
    found = []
    for info in sorted(pkgutil.iter_modules(pages.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pages.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found


def install(app: FastAPI) -> None:
    for router in page_routers():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(PageForbidden, _forbidden)
    app.add_exception_handler(CsrfFailed, _csrf_failed)


def wants_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(
        ("/api/", "/v1/", "/static/")
    ) and "text/html" in request.headers.get("accept", "")


def not_found_page(request: Request) -> Response:
    message = _("There is no page at this address.")
    return render(request, "error.html", {"title": _("Not found"), "message": message}, 404)


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = "/login?next=" + quote(exc.next_url, safe="/")
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"hx-redirect": target})
    return RedirectResponse(target, status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    return render(request, "error.html", {"title": _("Not allowed"), "message": exc.message}, 403)


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    message = _(
        "This form had expired or did not come from this site. Reload the page and try again."
    )
    return render(request, "error.html", {"title": _("Not allowed"), "message": message}, 403)

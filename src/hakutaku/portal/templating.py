"""Jinja2 for the pages: one environment, translated strings, static URLs with a version.

Templates get `user` (the signed-in WebUser or None), `csrf` (its token), `nav` (the menu
for this user), `t` (now), and `_`/`ngettext` bound to the request's language.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from hakutaku import __version__
from hakutaku.portal import i18n
from hakutaku.portal.formatting import FILTERS

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext_, i18n.ngettext_, newstyle=True
    )
    env.globals.update(static=static_url, version=__version__, locales=i18n.LANGUAGE_NAMES)
    env.filters.update(FILTERS)
    return env


@lru_cache(maxsize=256)
def static_url(path: str) -> str:
    """/static/<path>?v=<content hash>: browsers may cache it for ever."""
    try:
        digest = hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:10]
    except OSError:
        digest = __version__
    return f"/static/{path}?v={digest}"


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    from hakutaku.portal.nav import menu  # the menu depends on the pages; import late

    user = getattr(request.state, "web_user", None)
    values = {
        "request": request,
        "user": user,
        "csrf": user.csrf if user is not None else None,
        "nav": menu(user, request.url.path),
        "locale": i18n.current_locale(),
        "now": datetime.now(UTC),
        **(context or {}),
    }
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


# Pages are same-origin only: no framing, no inline scripts from elsewhere, no sniffing.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}

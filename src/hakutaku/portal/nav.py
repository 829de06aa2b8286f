"""The portal's menu: every page family, in order; admin pages only for admins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hakutaku.portal.i18n import N_, _

if TYPE_CHECKING:
    from hakutaku.portal.auth import WebUser


@dataclass(frozen=True)
class Entry:
    href: str
    label: str
    current: bool


# (path, label, admins only); labels are translated when the menu is made
PAGES: tuple[tuple[str, str, bool], ...] = (
    ("/", N_("Dashboard"), False),
    ("/jobs", N_("Jobs"), False),
    ("/sessions", N_("Apps"), False),
    ("/files", N_("Files"), False),
    ("/papers", N_("Papers"), False),
    ("/models", N_("Models"), False),
    ("/chat", N_("Chat"), False),
    ("/hub", N_("Hub"), False),
    ("/usage", N_("Usage"), False),
    ("/admin", N_("Admin"), True),
    ("/admin/monitoring", N_("Monitoring"), True),
)


def menu(user: WebUser | None, path: str) -> list[Entry]:
    if user is None:
        return []
    entries = []
    best = max((p for p, _l, _a in PAGES if _under(path, p)), key=len, default=None)
    for href, label, admins in PAGES:
        if admins and not user.is_admin:
            continue
        entries.append(Entry(href, _(label), href == best))
    return entries


def _under(path: str, prefix: str) -> bool:
    return path == prefix or (prefix != "/" and path.startswith(prefix + "/"))

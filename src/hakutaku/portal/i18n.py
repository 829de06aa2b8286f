"""Two languages: English (the source strings) and 简体中文, from gettext catalogues.

Catalogues are the `.po` files under `locale/` (Babel reads them at start; no compile step).
The language of a request is the user's own setting, else the browser's Accept-Language,
else HAI_PORTAL_DEFAULT_LOCALE; it is kept in a context variable so that templates and the
Python code of a page translate with the same catalogue.
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("en", "zh_CN")
LANGUAGE_NAMES = {"en": "English", "zh_CN": "简体中文"}
LOCALE_DIR = Path(__file__).parent / "locale"

_ENGLISH = gettext.NullTranslations()
_current: ContextVar[gettext.NullTranslations | None] = ContextVar(
    "hai_portal_translations", default=None
)
_current_locale: ContextVar[str] = ContextVar("hai_portal_locale", default="en")


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == "en" or not po.is_file():
        return _ENGLISH
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    # compiled in memory: the .po is the only file kept in the repository
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def negotiate(accept_language: str | None, own: str | None, default: str) -> str:
    """The user's setting, else the best of Accept-Language we have, else `default`."""
    if own in LOCALES:
        return own
    best, best_q = default if default in LOCALES else "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        locale = _locale_of(tag.strip())
        if locale is not None and q > best_q:
            best, best_q = locale, q
    return best


def _locale_of(tag: str) -> str | None:
    tag = tag.replace("_", "-").lower()
    if tag.startswith("zh"):
        # zh, zh-CN, zh-Hans, zh-SG: simplified; zh-TW/zh-HK/zh-Hant we do not have yet
        return None if any(t in tag for t in ("tw", "hk", "hant", "mo")) else "zh_CN"
    if tag.startswith("en"):
        return "en"
    return None


def activate(locale: str) -> None:
    _current.set(translations(locale))
    _current_locale.set(locale)


def current_locale() -> str:
    return _current_locale.get()


def gettext_(message: str) -> str:
    return (_current.get() or _ENGLISH).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return (_current.get() or _ENGLISH).ngettext(singular, plural, n)


# `_` for Python code of pages; Babel's extractor knows the name.
_ = gettext_


def N_(message: str) -> str:
    """Marks a string for the catalogue that is translated later, where it is shown."""
    return message

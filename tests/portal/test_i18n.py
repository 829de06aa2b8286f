"""Every string the portal shows has its 简体中文 translation, and the language is chosen as
documented (the user's setting, then Accept-Language, then HAI_PORTAL_DEFAULT_LOCALE)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hakutaku.portal import i18n

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "src" / "hakutaku" / "portal"
KEYWORDS = {"_": None, "gettext_": None, "ngettext_": (1, 2), "N_": None}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def _source_strings() -> set[str]:
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PORTAL), METHODS, keywords=KEYWORDS, options_map=OPTIONS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_portal_string_has_a_chinese_translation() -> None:
    po = PORTAL / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and m.string and not m.fuzzy
    }
    missing = sorted(_source_strings() - translated)
    assert not missing, (
        f"{len(missing)} strings lack a zh_CN translation (make messages): {missing[:20]}"
    )


def test_the_language_is_the_users_then_the_browsers_then_the_default() -> None:
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8", None, "en") == "zh_CN"
    assert i18n.negotiate("en-GB,en;q=0.9,zh;q=0.5", None, "en") == "en"
    assert i18n.negotiate("zh-TW", None, "en") == "en"  # traditional: not translated yet
    assert i18n.negotiate("fr-FR", None, "zh_CN") == "zh_CN"
    assert i18n.negotiate("zh-CN", "en", "en") == "en"  # the user's own choice wins


def test_translations_are_applied_with_placeholders() -> None:
    i18n.activate("zh_CN")
    try:
        assert i18n._("Sign in") != "Sign in"
        text = i18n._("Too many failed sign-ins. Wait %(minutes)d min and try again.")
        assert "%(minutes)d" in text
    finally:
        i18n.activate("en")
    assert i18n._("Sign in") == "Sign in"

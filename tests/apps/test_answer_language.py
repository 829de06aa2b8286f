"""The apps proxy's own pages (not found, starting, session ended) are in the visitor's
language, chosen as for the rest of the portal: the user's own setting, else the `hai_lang`
cookie, else Accept-Language, else the default. A real server, local backend."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.portal.conftest import PASSWORD, add_user
from tests.support.apps import csrf_of, launch, signed_in_client, stop_all_sessions, wait_running
from tests.support.processes import Platform, wait_until

NOWHERE = "/apps/0123456789abcdef/"
ZH = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.5"}
EN = {"accept-language": "en-GB,en;q=0.9"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # one CPU: a second session waits for the first's, so its page says "starting"
    p = Platform(
        tmp_path_factory.mktemp("apps-language") / "home",
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
        HAI_LOCAL_CPUS="1",
    )
    p.start()
    try:
        add_user(p, "alice")
        add_user(p, "bob")
        yield p
    finally:
        stop_all_sessions(p)
        p.stop()


def _page(r: httpx.Response) -> tuple[str, str, str]:
    """The page's lang, its heading and its first paragraph."""
    lang = re.search(r'<html lang="([^"]+)"', r.text)
    h1 = re.search(r"<h1[^>]*>([^<]*)</h1>", r.text)
    p = re.search(r"</h1>\s*<p>([^<]*)</p>", r.text)
    assert lang and h1 and p, r.text
    return lang.group(1), h1.group(1), p.group(1)


def test_not_found_in_the_browsers_language_or_the_cookies(platform: Platform) -> None:
    with httpx.Client(base_url=platform.url) as anonymous:
        r = anonymous.get(NOWHERE, headers=ZH)
        assert r.status_code == 404
        assert _page(r) == ("zh-CN", "未找到", "此地址没有（您可以打开的）应用会话。")
        assert "您的应用会话" in r.text
        r = anonymous.get(NOWHERE, headers=EN)
        assert r.status_code == 404 and _page(r)[:2] == ("en", "Not found")
        # the language chosen on the sign-in page (its cookie) wins over the browser's
        r = anonymous.get(NOWHERE, headers={**EN, "cookie": "hai_lang=zh_CN"})
        assert _page(r)[1] == "未找到"


def test_starting_and_ended_pages_follow_the_users_language(platform: Platform) -> None:
    alice = signed_in_client(platform.url, "alice", PASSWORD)
    first = launch(alice, "terminal")
    wait_running(platform, alice, first["id"])
    waiting = launch(alice, "terminal")  # no CPU left: it waits for the first's

    r = alice.get(f"/apps/{waiting['id']}/", headers=ZH)
    assert r.status_code == 503
    lang, title, message = _page(r)
    assert (lang, title) == ("zh-CN", "会话正在启动")
    assert message.startswith("正在等待资源") and message.endswith("本页面会自动刷新。")
    assert '<meta http-equiv="refresh"' in r.text
    r = alice.get(f"/apps/{waiting['id']}/", headers=EN)
    assert _page(r)[1] == "Session starting"

    headers = {"x-csrf-token": csrf_of(alice)}
    for session in (waiting, first):
        stopped = alice.post(f"/api/apps/sessions/{session['id']}/stop", headers=headers)
        assert stopped.status_code == 200, stopped.text

    def ended() -> bool:
        return alice.get(f"/apps/{first['id']}/").status_code == 410

    wait_until(ended, 30, "the stopped session's page")
    r = alice.get(f"/apps/{first['id']}/", headers=ZH)
    assert r.status_code == 410
    assert _page(r) == (
        "zh-CN",
        "会话已结束",
        "此 Terminal 会话已结束（已取消）。请在“应用会话”中启动新的会话。",
    )
    r = alice.get(f"/apps/{first['id']}/", headers=EN)
    assert _page(r)[1:] == (
        "Session ended",
        "This Terminal session has ended (cancelled). Start a new one from your app sessions.",
    )

    # alice's own setting (the portal's language switch) wins over her browser's
    r = alice.post(
        "/language",
        data={"locale": "zh_CN", "next": "/sessions", "csrf_token": csrf_of(alice)},
    )
    assert r.status_code == 303
    alice.cookies.delete("hai_lang")  # her account's setting, not the cookie, decides
    wait_until(
        lambda: _page(alice.get(f"/apps/{first['id']}/", headers=EN))[1] == "会话已结束",
        10,  # the proxy keeps a cookie's user for up to 2 s
        "alice's own language on the proxy's page",
    )
    # and bob's English browser gets English (his 404 for alice's session)
    bob = signed_in_client(platform.url, "bob", PASSWORD)
    r = bob.get(f"/apps/{first['id']}/", headers=EN)
    assert r.status_code == 404 and _page(r)[1] == "Not found"

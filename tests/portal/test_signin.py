"""Signing in and out of the portal in a real browser: passwords, SSO against a real OpenID
Connect provider, one-time links, CSRF, sessions, the sign-in limiter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.portal.conftest import PASSWORD, add_user, shot, sign_in, sso_env
from tests.support.processes import Platform


def test_password_sign_in_shows_the_dashboard_and_sign_out_ends_it(
    portal: Platform, page: Any
) -> None:
    page.goto(f"{portal.url}/profile")  # a page behind sign-in sends the browser to the form
    assert "/login?next=/profile" in page.url
    shot(page, "signin")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{portal.url}/profile")
    page.goto(f"{portal.url}/")
    assert page.get_by_role("link", name="alice").is_visible()
    shot(page, "dashboard-first")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(f"{portal.url}/login?out=1")
    assert page.get_by_role("status").inner_text() == "You are signed out."
    page.goto(f"{portal.url}/")
    assert "/login" in page.url


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    portal: Platform, page: Any
) -> None:
    for name, password in (("alice", "not the password"), ("nobody", PASSWORD)):
        page.goto(f"{portal.url}/login")
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        alert = page.get_by_role("alert")
        assert alert.inner_text() == "Wrong user name or password."
        assert "/login" in page.url
    shot(page, "signin-wrong-password")


def test_the_session_cookie_is_http_only_and_same_site(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "alice")
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("hai_session") == -1  # not visible to JS
    assert page.evaluate("Object.keys(localStorage).length") == 0


def test_api_keys_are_created_shown_once_and_revoked_from_the_profile(
    portal: Platform, page: Any
) -> None:
    sign_in(page, portal, "bob")
    page.goto(f"{portal.url}/profile")
    page.get_by_label("Name of the new key").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("New API key", exact=True).inner_text().strip()
    assert secret.startswith("hai-")
    shot(page, "profile-new-key")
    me = httpx.get(f"{portal.url}/api/me", headers={"authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["name"] == "bob"
    page.goto(f"{portal.url}/profile")
    assert secret not in page.content()  # shown once only
    prefix = secret.removeprefix("hai-").split(".")[0]
    page.get_by_role("button", name=f"Revoke key {prefix}").click()
    assert "revoked" in page.get_by_role("status").inner_text()
    gone = httpx.get(f"{portal.url}/api/me", headers={"authorization": f"Bearer {secret}"})
    assert gone.status_code == 401


def test_state_changes_need_the_pages_csrf_token(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "alice")
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    jar = {"hai_session": cookie["value"]}
    with httpx.Client(base_url=portal.url, cookies=jar) as h:
        # a form posted without the token (what another site could make a browser do)
        assert h.post("/logout").status_code == 403
        assert h.post("/profile/keys", data={"name": "x"}).status_code == 403
        # the portal's own API calls: reading needs the cookie only, writing the token too
        assert h.get("/api/me").json()["name"] == "alice"
        refused = h.post("/api/keys", json={})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        token = page.evaluate("document.body.dataset.csrf")
        made = h.post("/api/keys", json={}, headers={"x-csrf-token": token})
        assert made.status_code == 201 and made.json()["user"] == "alice"
    page.goto(f"{portal.url}/")
    assert page.get_by_role("link", name="alice").is_visible()  # still signed in


def test_sign_out_everywhere_ends_every_browser_of_the_user(portal: Platform, browser: Any) -> None:
    first, second = browser.new_context(), browser.new_context()
    try:
        a, b = first.new_page(), second.new_page()
        sign_in(a, portal, "bob")
        sign_in(b, portal, "bob")
        a.goto(f"{portal.url}/profile")
        assert a.get_by_role("row").count() >= 3  # header + two browsers
        a.get_by_role("button", name="Sign out everywhere").click()
        a.wait_for_url(f"{portal.url}/login?out=1")
        b.goto(f"{portal.url}/profile")
        assert "/login" in b.url
    finally:
        first.close()
        second.close()


def test_a_one_time_link_signs_in_once_and_asks_for_a_password(
    portal: Platform, page: Any, browser: Any
) -> None:
    with portal.http() as h:
        assert h.post("/api/users", json={"name": "carol"}).status_code == 201
        link = h.post("/api/users/carol/login-link").json()["url"]
    page.goto(link)
    page.wait_for_url(f"{portal.url}/profile?set_password=1")
    assert "Choose a password" in page.get_by_role("status").inner_text()
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Set password").click()
    assert "password is set" in page.get_by_role("status").inner_text()
    shot(page, "profile")
    other = browser.new_context()
    try:
        again = other.new_page()
        again.goto(link)  # used up
        assert "used or has expired" in again.get_by_role("alert").inner_text()
        sign_in(again, portal, "carol", "a brand new passphrase")
    finally:
        other.close()


def test_a_weak_password_is_refused_saying_what_to_do(portal: Platform) -> None:
    with portal.http() as h:
        r = h.put("/api/users/alice/password", json={"password": "short"})
    assert r.status_code == 400
    assert "at least 10 characters" in r.json()["error"]["message"]


def test_a_user_cannot_open_admin_pages(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "alice")
    response = page.goto(f"{portal.url}/admin")
    assert response.status in (403, 404)


def test_pages_come_in_chinese_for_a_chinese_browser(portal: Platform, browser: Any) -> None:
    ctx = browser.new_context(locale="zh-CN")
    try:
        page = ctx.new_page()
        page.goto(f"{portal.url}/login")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.get_by_role("button", name="登录").is_visible()
        shot(page, "signin-zh")
    finally:
        ctx.close()


@pytest.fixture
def limited(tmp_path: Any) -> Iterator[Platform]:
    p = Platform(tmp_path / "home", HAI_PORTAL_LOGIN_ATTEMPTS="3").start()
    try:
        add_user(p, "dave")
        yield p
    finally:
        p.stop()


def test_sign_in_is_rate_limited_per_user(limited: Platform, page: Any) -> None:
    for _ in range(3):
        page.goto(f"{limited.url}/login")
        page.get_by_label("User name").fill("dave")
        page.get_by_label("Password").fill("guess " * 3)
        page.get_by_role("button", name="Sign in", exact=True).click()
        assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    # now even the right password waits
    page.get_by_label("User name").fill("dave")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert "Too many failed sign-ins" in page.get_by_role("alert").inner_text()


@pytest.fixture(scope="module")
def sso_portal(
    tmp_path_factory: pytest.TempPathFactory, oidc_provider: str
) -> Iterator[tuple[Platform, str]]:
    p = Platform(tmp_path_factory.mktemp("sso") / "home", **sso_env(oidc_provider)).start()
    try:
        yield p, oidc_provider
    finally:
        p.stop()


def test_single_sign_on_creates_the_user_with_the_providers_groups(
    sso_portal: tuple[Platform, str], page: Any
) -> None:
    p, provider = sso_portal
    claims = {"preferred_username": "olga", "email": "olga@ihep.example", "groups": ["cms"]}
    assert httpx.put(f"{provider}/users/olga-sub-1", json=claims).status_code == 204
    page.goto(f"{p.url}/login?next=/profile")
    page.get_by_role("link", name="Sign in with Institute SSO").click()
    page.get_by_placeholder("sub").fill("olga-sub-1")  # the provider's own sign-in form
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{p.url}/profile")
    assert page.get_by_role("heading", name="olga").is_visible()
    assert "cms" in page.content() and "olga@ihep.example" in page.content()
    shot(page, "sso-profile")
    # the same identity signs in as the same user again (linked, not created twice)
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.goto(f"{p.url}/auth/sso")
    page.get_by_placeholder("sub").fill("olga-sub-1")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{p.url}/")
    with p.http() as h:
        names = [u["name"] for u in h.get("/api/users").json()]
    assert names.count("olga") == 1


def test_a_denied_single_sign_on_comes_back_with_the_reason(
    sso_portal: tuple[Platform, str], page: Any
) -> None:
    p, _provider = sso_portal
    page.goto(f"{p.url}/auth/sso")
    page.get_by_role("button", name="Deny").click()
    assert "Single sign-on was not completed" in page.get_by_role("alert").inner_text()
    assert "/login" in page.url or "/auth/sso/callback" in page.url

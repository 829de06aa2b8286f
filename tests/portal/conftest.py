"""Browser tests of the portal: Playwright drives Debian's Chromium (/usr/bin/chromium, installed
by deploy/dev/install-services.sh; nothing is downloaded) against real server processes.

One browser for the portal's tests (package scope: Playwright's sync API holds an asyncio loop
in this thread while it runs, so it must end before other packages' asyncio tests run); each
test gets a fresh context (no cookies). Every
page a test visits can be saved with `shot(page, name)` under tests/portal/screenshots/.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import services_required
from tests.support.processes import Platform, free_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "correct horse battery"  # the test users' portal password
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = "Chromium is not installed; run `sudo bash deploy/dev/install-services.sh`"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot, for people to look at (tests/portal/screenshots/NAME.png)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def add_user(p: Platform, name: str, *, role: str = "user", groups: tuple[str, ...] = ()) -> None:
    """A user with the test password (through the API, with the admin key)."""
    with p.http() as h:
        r = h.post("/api/users", json={"name": name, "role": role, "groups": list(groups)})
        assert r.status_code == 201, r.text
        r = h.put(f"/api/users/{name}/password", json={"password": PASSWORD})
        assert r.status_code == 204, r.text


def sign_in(page: Any, p: Platform, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{p.url}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{p.url}/")


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A server on SQLite with users `alice`, `bob` (users) and `root` (an admin)."""
    p = Platform(tmp_path_factory.mktemp("portal") / "home", HAI_PORTAL_LOGIN_ATTEMPTS="1000")
    p.start()
    try:
        add_user(p, "alice", groups=("cms",))
        add_user(p, "bob", groups=("atlas",))
        add_user(p, "root", role="admin")
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[str]:
    """A real OpenID Connect provider process (PyPI oidc-provider-mock) on loopback."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "-p", str(port), "-n", "true"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{url}/.well-known/openid-configuration", timeout=1).is_success,
            30,
            "the OIDC provider",
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def sso_env(issuer: str) -> dict[str, str]:
    return {
        "HAI_OIDC_ISSUER": issuer,
        "HAI_OIDC_CLIENT_ID": "hakutaku-tests",
        "HAI_OIDC_CLIENT_SECRET": "not-so-secret",
        "HAI_OIDC_DISPLAY_NAME": "Institute SSO",
        # the test provider speaks plain HTTP on loopback; Authlib wants this to allow it
        "AUTHLIB_INSECURE_TRANSPORT": "1",
    }

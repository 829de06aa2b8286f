"""App sessions on a real server (local backend): how a session's end reads on its card and
at its URL — out of memory (never "completed"), time limit — with an operator's app from
HAI_APPS_FILE, and launches refused by the policy like any job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.portal.conftest import PASSWORD, add_user
from tests.support.apps import (
    csrf_of,
    launch,
    signed_in_client,
    stop_all_sessions,
    wait_running,
)
from tests.support.processes import Platform, wait_until

ECHO_APP = Path(__file__).with_name("echo_app.py")
APPS = f"""
[apps.echo]
title = "Echo"
command = ["{{python}}", "{ECHO_APP}"]
ready_path = "ready"
auth_header = "X-App-Secret"
auth_value = "{{secret}}"
mem = "256M"

[apps.echo.env]
APP_HOST = "{{host}}"
APP_PORT = "{{port}}"
APP_BASE_URL = "{{base_url}}"
APP_SECRET = "{{secret}}"

[apps.hog]
title = "Memory hog"
command = ["{{python}}", "-c", "x = bytearray(400 * 2**20); import time; time.sleep(120)"]
mem = "128M"
time = "0:05:00"
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("apps") / "home"
    apps_file = home.parent / "apps.toml"
    apps_file.write_text(APPS)
    p = Platform(
        home,
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
        HAI_APPS_FILE=str(apps_file),
        HAI_LOCAL_CPUS="4",
    )
    p.start()
    try:
        add_user(p, "alice")
        yield p
    finally:
        stop_all_sessions(p)
        p.stop()


@pytest.fixture(scope="module")
def alice(platform: Platform) -> httpx.Client:
    return signed_in_client(platform.url, "alice", PASSWORD)


def _ended(client: httpx.Client, session_id: str) -> dict[str, object]:
    def card() -> dict[str, object] | None:
        found: dict[str, object] = client.get(f"/api/apps/sessions/{session_id}").json()
        return found if found["phase"] == "ended" else None

    ended: dict[str, object] = wait_until(card, 60, f"session {session_id} to end")
    return ended


def test_an_oom_kill_reads_out_of_memory(platform: Platform, alice: httpx.Client) -> None:
    session = launch(alice, "hog")
    card = _ended(alice, session["id"])
    assert card["ended"] == "out of memory", card
    assert "memory" in str(card["reason"])
    page = alice.get(f"/apps/{session['id']}/")
    assert page.status_code == 410
    assert "Session ended" in page.text and "out of memory" in page.text
    cards = alice.get("/sessions/cards").text
    assert "Ended: out of memory" in cards and "Ended: completed" not in cards


def test_a_session_past_its_time_limit_reads_time_limit(
    platform: Platform, alice: httpx.Client
) -> None:
    session = launch(alice, "terminal", time="0:00:03")
    card = _ended(alice, session["id"])
    assert card["ended"] == "time limit", card
    assert "time limit" in alice.get(f"/apps/{session['id']}/").text


def test_launches_are_checked_like_jobs(platform: Platform, alice: httpx.Client) -> None:
    csrf = csrf_of(alice)
    r = alice.post(
        "/api/apps/sessions",
        json={"app": "terminal", "time": "99-00:00:00"},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 400 and "MaxTime" in r.text, r.text
    r = alice.post(
        "/sessions",
        data={"app": "terminal", "cpus": "100000", "csrf_token": csrf},
    )
    assert r.status_code == 400 and "never start" in r.text
    # without the CSRF token a launch is refused
    assert alice.post("/api/apps/sessions", json={"app": "terminal"}).status_code == 403


def test_no_trailing_slash_redirects_and_anonymous_goes_to_sign_in(
    platform: Platform, alice: httpx.Client
) -> None:
    session = launch(alice, "terminal")
    r = alice.get(f"/apps/{session['id']}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/apps/{session['id']}/"
    r = httpx.get(f"{platform.url}/apps/{session['id']}/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = alice.post(
        f"/api/apps/sessions/{session['id']}/stop", headers={"x-csrf-token": csrf_of(alice)}
    )
    assert r.status_code == 200
    assert _ended(alice, session["id"])["ended"] == "cancelled"


def test_an_operators_app_gets_its_secret_header_and_never_the_portal_cookie(
    platform: Platform, alice: httpx.Client
) -> None:
    session = launch(alice, "echo")
    wait_running(platform, alice, session["id"])
    r = alice.get(f"/apps/{session['id']}/headers?x=1", headers={"x-app-secret": "guess"})
    assert r.status_code == 200
    seen = r.json()
    assert seen["path"] == f"/apps/{session['id']}/headers?x=1"
    # the proxy's secret, not the browser's guess; Host and the cookie rewritten
    assert seen["headers"]["x-app-secret"] != "guess"
    assert "hai_session" not in seen["headers"].get("cookie", "")
    job = json.loads((platform.home / "jobs" / str(session["job_id"]) / "request.json").read_text())
    assert seen["headers"]["host"] == f"127.0.0.1:{job['env']['APP_PORT']}"
    # the app's text answer quoted its secret: the browser sees it hidden
    assert seen["secret"] == "[hidden]"
    # the app may set its own cookies, never the portal's
    cookies = r.headers.get_list("set-cookie")
    assert any(c.startswith("app_cookie=kept") for c in cookies)
    assert not any(c.startswith("hai_session=") for c in cookies)
    assert alice.get("/sessions").status_code == 200  # still signed in


def test_a_session_waiting_for_resources_says_why(platform: Platform, alice: httpx.Client) -> None:
    stop_all_sessions(platform)  # the machine's 4 CPUs free
    first = launch(alice, "terminal", cpus=4)
    wait_running(platform, alice, first["id"])
    second = launch(alice, "terminal", cpus=4)

    def waiting() -> dict[str, object] | None:
        card: dict[str, object] = alice.get(f"/api/apps/sessions/{second['id']}").json()
        return card if card["reason"] else None

    card = wait_until(waiting, 30, "the scheduler's reason on the card")
    assert card["phase"] == "starting"
    page = alice.get(f"/apps/{second['id']}/")
    assert page.status_code == 503
    assert "Waiting for resources" in page.text and str(card["reason"]) in page.text
    assert f"Waiting: {card['reason']}" in alice.get("/sessions/cards").text
    csrf = csrf_of(alice)
    alice.post(f"/api/apps/sessions/{first['id']}/stop", headers={"x-csrf-token": csrf})
    wait_running(platform, alice, second["id"])  # its turn once the first is stopped
    alice.post(f"/api/apps/sessions/{second['id']}/stop", headers={"x-csrf-token": csrf})


def test_a_session_is_extended_within_its_qos(platform: Platform, alice: httpx.Client) -> None:
    # the laptop policy's `debug` QOS allows 15 minutes: 10 asked leave 5 to add
    session = launch(alice, "echo", qos="debug", time="0:10:00")
    assert session["extend_room"] == 300 and session["extend_choices"] == [300]
    csrf = csrf_of(alice)
    url = f"/api/apps/sessions/{session['id']}/extend"
    r = alice.post(url, json={"by": "5m"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["time_limit"] == 900 and card["extend_room"] == 0 and card["extend_choices"] == []
    r = alice.post(url, json={"by": "1m"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 400 and r.json()["error"]["code"] == "qos_max_wall"
    assert r.json()["error"]["message"] == (
        "The MaxWall of QOS 'debug' allows at most 15 m; this session already has 15 m, so it "
        "cannot be extended further; start a new one (in another QOS or partition with a "
        "longer limit) when it ends."
    )
    # the portal's form: the refusal on the session's own card
    page = alice.post(f"/sessions/{session['id']}/extend", data={"by": "60s", "csrf_token": csrf})
    assert page.status_code == 400
    assert (
        f'id="card-error-{session["id"]}" role="alert" hx-preserve="true">The MaxWall' in page.text
    )
    assert "No more time can be added" in page.text
    stop = f"/api/apps/sessions/{session['id']}/stop"
    assert alice.post(stop, headers={"x-csrf-token": csrf}).status_code == 200
    _ended(alice, session["id"])
    r = alice.post(url, json={"by": "1m"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 409 and "already ended" in r.text
    assert alice.post(url, json={"by": "1m"}).status_code == 403  # no CSRF token
    ended = alice.get(f"/api/apps/sessions/{session['id']}").json()
    assert ended["extend_room"] == 0 and ended["extend_choices"] == []

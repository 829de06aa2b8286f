"""Interactive apps in a real browser against a real server: Jupyter Lab and the Terminal as
local jobs reached through the proxy, the 90 s idle terminal, another user's 404 (HTTP and
websocket, also with a forged Origin), and a stopped session's "session ended" page."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest
import websockets

from tests.portal.conftest import PASSWORD, add_user, shot, sign_in
from tests.support.apps import (
    csrf_of,
    launch,
    run_cell,
    session_cookie,
    signed_in_client,
    stop_all_sessions,
    wait_running,
)
from tests.support.processes import Platform, wait_until

T = TypeVar("T")


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The portal's test server, with room for a few app sessions at once on this machine
    (each is a job that holds its CPUs and memory while it lives)."""
    p = Platform(
        tmp_path_factory.mktemp("apps") / "home",
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
        HAI_LOCAL_CPUS="8",
        HAI_LOCAL_MEM_MB="32768",
    )
    p.start()
    try:
        add_user(p, "alice")
        add_user(p, "bob")
        add_user(p, "root", role="admin")
        yield p
    finally:
        stop_all_sessions(p)
        p.stop()


@pytest.fixture(scope="module")
def alice(portal: Platform) -> httpx.Client:
    return signed_in_client(portal.url, "alice", PASSWORD)


@pytest.fixture(scope="module")
def bob(portal: Platform) -> httpx.Client:
    return signed_in_client(portal.url, "bob", PASSWORD)


@pytest.fixture(scope="module")
def terminal(portal: Platform, alice: httpx.Client) -> dict[str, Any]:
    """Alice's terminal session, running."""
    session = launch(alice, "terminal")
    wait_running(portal, alice, session["id"])
    return session


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end in a thread of its own: Playwright's sync API keeps an
    event loop running in the test's thread (the browser fixture), so asyncio.run cannot."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _ws_url(p: Platform, session_id: str, path: str = "ws") -> str:
    return p.url.replace("http://", "ws://") + f"/apps/{session_id}/{path}"


async def _ws_status(url: str, cookie: str | None, origin: str | None) -> int:
    """The HTTP status the upgrade got (101 when it was accepted)."""
    headers = {"cookie": cookie} if cookie else {}
    try:
        async with websockets.connect(url, additional_headers=headers, origin=origin):  # type: ignore[arg-type]
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


def test_jupyter_runs_a_cell_through_the_proxy(
    portal: Platform, page: Any, alice: httpx.Client
) -> None:
    sign_in(page, portal, "alice")
    page.goto(f"{portal.url}/sessions")
    page.get_by_label("App").select_option("jupyter")
    page.get_by_role("button", name="Launch").click()
    card = page.locator(".session-card[data-phase='running']").first
    card.wait_for(timeout=120_000)
    shot(page, "apps-jupyter-card")
    session_id = card.get_attribute("data-session")
    job_id = alice.get(f"/api/apps/sessions/{session_id}").json()["job_id"]
    request = json.loads((portal.home / "jobs" / str(job_id) / "request.json").read_text())
    secret = request["env"]["JUPYTER_TOKEN"]
    page.goto(f"{portal.url}/apps/{session_id}/lab")
    # Lab's page quotes its token in its config: the proxy hides it; no cookie carries it
    assert secret not in page.content()
    assert all(secret not in c["value"] for c in page.context.cookies())
    try:
        assert run_cell(page, "6*7") == "42"
    finally:
        shot(page, "apps-jupyter-42")


def test_terminal_echo_survives_90s_idle(
    portal: Platform, page: Any, terminal: dict[str, Any]
) -> None:
    sign_in(page, portal, "alice")
    page.goto(f"{portal.url}/apps/{terminal['id']}/")
    status = page.locator("#status[data-state='connected']")
    status.wait_for()
    page.locator(".xterm").click()
    page.keyboard.type("echo $((6*7))")
    page.keyboard.press("Enter")
    rows = page.locator(".xterm-rows")
    wait_until(lambda: "\n42" in rows.inner_text(), 20, "the shell's answer 42")
    shot(page, "apps-terminal-42")
    # idle, as a person reading: no key, no message; the pings keep the websocket up
    page.wait_for_timeout(90_000)
    page.locator(".xterm").click()
    page.keyboard.type("echo again-$((6*9))")
    page.keyboard.press("Enter")
    wait_until(lambda: "\nagain-54" in rows.inner_text(), 20, "the shell's second answer")
    # the same connection: the page never had to reconnect
    assert page.locator("#status").get_attribute("data-connects") == "1"
    assert page.locator("#status").get_attribute("data-state") == "connected"
    shot(page, "apps-terminal-after-idle")


def test_terminal_reconnects_to_the_same_shell_and_resizes(
    portal: Platform, page: Any, terminal: dict[str, Any]
) -> None:
    sign_in(page, portal, "alice")
    page.goto(f"{portal.url}/apps/{terminal['id']}/")
    page.locator("#status[data-state='connected']").wait_for()
    page.locator(".xterm").click()
    page.keyboard.type("export HAI_MARK=kept-$((40+2))")
    page.keyboard.press("Enter")
    connects = int(page.locator("#status").get_attribute("data-connects") or "0")
    page.evaluate("window.haiTerminal.reconnect()")  # the network drops the connection
    wait_until(
        lambda: (
            page.locator("#status").get_attribute("data-connects") == str(connects + 1)
            and page.locator("#status").get_attribute("data-state") == "connected"
        ),
        20,
        "the reconnect",
    )
    page.locator(".xterm").click()
    page.keyboard.type("echo $HAI_MARK")
    page.keyboard.press("Enter")
    rows = page.locator(".xterm-rows")
    wait_until(lambda: "\nkept-42" in rows.inner_text(), 20, "the same shell's variable")
    # a smaller window: the terminal refits, and the shell is told its new size
    # (the size before the change: the refit may run before the next evaluate does)
    size = page.evaluate("[window.haiTerminal.term.rows, window.haiTerminal.term.cols]")
    page.set_viewport_size({"width": 700, "height": 420})
    wait_until(
        lambda: (
            page.evaluate("[window.haiTerminal.term.rows, window.haiTerminal.term.cols]") != size
        ),
        10,
        "the terminal to refit",
    )
    rows_now, cols_now = page.evaluate(
        "[window.haiTerminal.term.rows, window.haiTerminal.term.cols]"
    )
    page.locator(".xterm").click()
    page.keyboard.type("clear; echo size=$(stty size | tr ' ' x)")
    page.keyboard.press("Enter")
    expected = f"size={rows_now}x{cols_now}"
    wait_until(lambda: expected in rows.inner_text(), 20, f"the shell's size {expected}")


def test_another_user_gets_404_over_http_and_websocket(
    portal: Platform, alice: httpx.Client, bob: httpx.Client, terminal: dict[str, Any]
) -> None:
    sid = terminal["id"]
    assert alice.get(f"/apps/{sid}/").status_code == 200
    assert bob.get(f"/apps/{sid}/").status_code == 404
    assert bob.get(f"/apps/{sid}/healthz").status_code == 404
    assert bob.post(f"/apps/{sid}/ws", content=b"x").status_code == 404
    url = _ws_url(portal, sid)
    own, other = session_cookie(alice), session_cookie(bob)
    assert in_thread(_ws_status(url, own, portal.url)) == 101
    assert in_thread(_ws_status(url, other, portal.url)) == 404
    assert in_thread(_ws_status(url, other, "http://evil.example")) == 404
    assert in_thread(_ws_status(url, None, portal.url)) == 404
    # the owner's own cookie from a forged Origin (a page elsewhere) is refused too
    assert in_thread(_ws_status(url, own, "http://evil.example")) == 403
    # an admin too, unless HAI_APPS_ADMIN_ACCESS says admins may open users' sessions
    root = signed_in_client(portal.url, "root", PASSWORD)
    assert root.get(f"/apps/{sid}/").status_code == 404
    assert in_thread(_ws_status(url, session_cookie(root), portal.url)) == 404
    # and a session id that does not exist looks the same as someone else's
    assert alice.get("/apps/0123456789abcdef/").status_code == 404


def test_the_secret_is_neither_in_the_shell_nor_shown(
    portal: Platform, alice: httpx.Client, terminal: dict[str, Any]
) -> None:
    async def shell_env() -> str:
        url = _ws_url(portal, terminal["id"])
        async with websockets.connect(
            url, additional_headers={"cookie": session_cookie(alice)}, origin=portal.url
        ) as ws:
            await ws.send(
                json.dumps(
                    {"type": "input", "data": "env | grep -c HAI_APP_SECRET; echo done-$((1+1))\r"}
                )
            )
            out = b""
            while b"done-2" not in out:
                out += await asyncio.wait_for(ws.recv(), 10)  # type: ignore[operator]
            return out.decode(errors="replace")

    assert "\r0\r\ndone-2" in in_thread(shell_env())
    page = alice.get(f"/apps/{terminal['id']}/")
    card = alice.get(f"/api/apps/sessions/{terminal['id']}").json()
    assert "secret" not in card
    with portal.http() as h:
        job = h.get(f"/api/jobs/{card['job_id']}").json()
    assert "env" not in job
    assert "token" not in page.headers.get("set-cookie", "")


def test_a_stopped_session_says_session_ended(
    portal: Platform, page: Any, alice: httpx.Client
) -> None:
    session = launch(alice, "terminal")
    wait_running(portal, alice, session["id"])
    sign_in(page, portal, "alice")
    page.goto(f"{portal.url}/sessions")
    card = page.locator(f".session-card[data-session='{session['id']}']")
    card.get_by_role("button", name="Stop").click()
    ended = page.locator(f".session-card[data-session='{session['id']}'][data-phase='ended']")
    ended.wait_for(timeout=30_000)
    assert "cancelled" in ended.locator(".why").inner_text()
    shot(page, "apps-card-ended")
    page.goto(f"{portal.url}/apps/{session['id']}/")
    assert page.locator("h1").inner_text() == "Session ended"
    assert "cancelled" in page.locator("main p").first.inner_text()
    shot(page, "apps-session-ended")
    assert alice.get(f"/apps/{session['id']}/").status_code == 410
    url = _ws_url(portal, session["id"])
    assert in_thread(_ws_status(url, session_cookie(alice), portal.url)) == 410
    # a new launch is refused clearly for an unknown app
    r = alice.post(
        "/api/apps/sessions",
        json={"app": "nope"},
        headers={"x-csrf-token": csrf_of(alice)},
    )
    assert r.status_code == 400 and "jupyter" in r.text and "terminal" in r.text


def _seconds(text: str) -> int:
    """A card's time left, `HH:MM:SS` (or `D-HH:MM:SS`), in seconds."""
    days, _, hms = text.strip().rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 86400 + h * 3600 + m * 60 + s


def test_extend_adds_time_on_the_card_within_the_qos(
    portal: Platform, page: Any, alice: httpx.Client
) -> None:
    sign_in(page, portal, "alice")
    # a 10-minute terminal in the 7-day `normal` QOS: every step is offered
    session = launch(alice, "terminal", time="0:10:00")
    wait_running(portal, alice, session["id"])
    page.goto(f"{portal.url}/sessions")
    card = page.locator(f".session-card[data-session='{session['id']}'][data-phase='running']")
    card.wait_for()
    assert _seconds(card.locator(".time-left").inner_text()) <= 600
    steps = card.locator(".extend button")
    assert steps.all_inner_texts() == ["+30 min", "+1 h", "+2 h", "+4 h"]
    card.get_by_role("button", name="by +30 min").click()
    page.wait_for_url(f"{portal.url}/sessions")
    card.wait_for()
    left = _seconds(card.locator(".time-left").inner_text())
    assert 39 * 60 < left <= 40 * 60, left
    shot(page, "apps-card-extended")
    assert alice.get(f"/api/jobs/{session['job_id']}").json()["time_limit"] == 2400

    # a `debug` session (15 minutes at most) asked for 14: one minute is left to add
    short = launch(alice, "terminal", qos="debug", time="0:14:00")
    wait_running(portal, alice, short["id"])
    page.goto(f"{portal.url}/sessions")
    card = page.locator(f".session-card[data-session='{short['id']}'][data-phase='running']")
    card.wait_for()
    assert card.locator(".extend button").all_inner_texts() == ["+1 min"]
    # a page left open while the limit was reached elsewhere: its button asks for more than
    # the QOS leaves, and the refusal is shown on the card, naming the limit
    card.locator(".extend input[name='by']").evaluate("input => input.value = '1h'")
    card.get_by_role("button", name="by +1 min").click()
    error = card.locator(".card-error")
    error.wait_for()
    assert error.inner_text() == (
        "The MaxWall of QOS 'debug' allows at most 15 m; this session already has 14 m, so ask "
        "for at most 1 m more."
    )
    # it stays on the card while the cards refresh
    with page.expect_response(lambda r: r.url.endswith("/sessions/cards")):
        pass
    assert error.is_visible() and "MaxWall" in error.inner_text()
    shot(page, "apps-card-extend-refused")
    # the job's page extends it too, with the time typed
    page.goto(f"{portal.url}/jobs/{short['job_id']}")
    page.get_by_label("Extra time").fill("1m")
    page.get_by_role("button", name="Extend", exact=True).click()
    assert page.locator(".notice").inner_text() == "Time limit raised."
    assert "00:15:00" in page.locator("#job-detail").inner_text()
    page.goto(f"{portal.url}/sessions")
    card = page.locator(f".session-card[data-session='{short['id']}']")
    assert "No more time can be added" in card.inner_text()
    assert card.locator(".extend button").count() == 0
    shot(page, "apps-card-at-its-limit")

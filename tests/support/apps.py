"""Helpers for the apps tests and bench: a signed-in HTTP client, launching and waiting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster, python_for_job_users


def signed_in_client(url: str, name: str, password: str) -> httpx.Client:
    """An httpx client with a portal session cookie (signed in through the /login form)."""
    client = httpx.Client(base_url=url, timeout=60)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    r = client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token.group(1)}
    )
    assert r.status_code == 303, r.text[:500]
    return client


@contextmanager
def platform_on_slurm(
    cluster: SlurmCluster, home: Path, users: tuple[str, ...] = ("alice",), **env: str
) -> Iterator[Platform]:
    """A server whose jobs (and so app sessions) run on the test Slurm, as their users, with
    the portal users `users` (password tests.portal.conftest.PASSWORD); its sessions are
    stopped before it is."""
    from tests.portal.conftest import add_user

    platform = Platform(
        home,
        HAI_SCHEDULER_INTERVAL="0.5",
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
        # apps run as their users: with a Python they can execute (the test's own may be in /root)
        HAI_APPS_PYTHON=str(python_for_job_users(cluster.jobs_dir)),
        **cluster.platform_env(home.parent.name),
        **env,
    ).start()
    try:
        for name in users:
            add_user(platform, name, groups=("physics",))
        yield platform
    finally:
        stop_all_sessions(platform)
        platform.stop()


def session_cookie(client: httpx.Client) -> str:
    return f"hai_session={client.cookies['hai_session']}"


def launch(client: httpx.Client, app: str, **resources: Any) -> dict[str, Any]:
    csrf = csrf_of(client)
    r = client.post(
        "/api/apps/sessions", json={"app": app, **resources}, headers={"x-csrf-token": csrf}
    )
    assert r.status_code == 201, r.text
    found: dict[str, Any] = r.json()
    return found


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/sessions")
    token = re.search(r'data-csrf="([^"]+)"', page.text)
    assert token, page.text[:500]
    return token.group(1)


def wait_running(p: Platform, client: httpx.Client, session_id: str, timeout: float = 90) -> None:
    """Until the session's app answers through the proxy (its card says running)."""

    def up() -> bool:
        r = client.get(f"/apps/{session_id}/", follow_redirects=False)
        if r.status_code == 410:
            raise AssertionError(f"session {session_id} ended: {r.text}")
        return r.status_code != 503

    wait_until(up, timeout, f"app session {session_id} ({p.home / 'server.log'})", interval=0.3)


def stop_all_sessions(p: Platform) -> None:
    """Cancel every job still pending or running on the platform, and wait for them to end.

    Local jobs outlive their server by design (a restarted server re-attaches to them), so a
    test's app sessions would go on serving after the test: stop them before the server."""
    with p.http() as h:
        live = h.get("/api/jobs", params={"all": "true", "state": "pending,running"}).json()
        for job in live:
            h.post(f"/api/jobs/{job['id']}/cancel")

        def ended() -> bool:
            jobs = h.get("/api/jobs", params={"all": "true", "state": "pending,running"})
            return not jobs.json()

        wait_until(ended, 60, "the test's app sessions to end")


async def run_in_jupyter(p: Platform, client: httpx.Client, session_id: str, code: str) -> str:
    """Start a kernel in the session's Jupyter (REST, through the proxy), run `code` over the
    kernel's websocket (through the proxy) and return its result's text/plain."""
    import asyncio
    import json
    import uuid

    import websockets

    client.get(f"/apps/{session_id}/lab")  # Jupyter's _xsrf cookie
    headers = {"x-xsrftoken": client.cookies.get("_xsrf") or "", "origin": p.url}
    kernel = client.post(
        f"/apps/{session_id}/api/kernels", json={"name": "python3"}, headers=headers
    )
    assert kernel.status_code == 201, kernel.text
    url = p.url.replace("http://", "ws://") + (
        f"/apps/{session_id}/api/kernels/{kernel.json()['id']}/channels"
    )
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": "execute_request",
        "username": "",
        "session": uuid.uuid4().hex,
        "version": "5.3",
    }
    content = {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
    }
    message = {"header": header, "parent_header": {}, "metadata": {}, "channel": "shell"}
    async with websockets.connect(
        url,
        additional_headers={"cookie": cookies},
        origin=p.url,  # type: ignore[arg-type]
    ) as ws:
        await ws.send(json.dumps({**message, "content": content}))
        while True:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if reply["msg_type"] == "execute_result":
                return str(reply["content"]["data"]["text/plain"])
            if reply["msg_type"] == "error":
                raise AssertionError(f"the cell failed: {reply['content']}")


def run_cell(lab: Any, code: str) -> str:
    """Open a new notebook in Jupyter Lab's page, run one cell of `code`, return its output."""
    lab.locator(".jp-LauncherCard[data-category='Notebook']").first.click(timeout=90_000)
    editor = lab.locator(".jp-Notebook .jp-Cell .cm-content").first
    editor.wait_for(timeout=90_000)
    lab.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
    editor.click()
    lab.keyboard.type(code)
    output = lab.locator(".jp-OutputArea-output").first

    def ran() -> bool:
        # Lab ignores a run while its kernel connection is still being set up (after the
        # status bar says Idle, on a loaded machine): run the same cell again until it runs
        editor.click()
        lab.keyboard.press("Control+Enter")
        try:
            output.wait_for(timeout=5_000)
        except Exception:
            return False
        return True

    wait_until(ran, 90, "the cell's output through the proxy", interval=0.5)
    return str(output.inner_text()).strip()

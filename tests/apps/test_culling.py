"""Idle culling on a real server: a session with only an open tab (a connected terminal, an
idle Jupyter kernel) is stopped after HAI_APPS_IDLE_MINUTES; a busy one (a command in the
terminal's foreground, a kernel computing) is not, until it is done and idle."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.portal.conftest import PASSWORD, add_user
from tests.support.apps import (
    launch,
    session_cookie,
    signed_in_client,
    stop_all_sessions,
    wait_running,
)
from tests.support.processes import Platform, wait_until

IDLE_SECONDS = 4.0


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(
        tmp_path_factory.mktemp("apps-idle") / "home",
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
        HAI_APPS_IDLE_MINUTES=str(IDLE_SECONDS / 60),
        HAI_LOCAL_CPUS="8",
        HAI_LOCAL_MEM_MB="32768",
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


def _card(client: httpx.Client, session_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/api/apps/sessions/{session_id}").json()
    return found


def _ws(platform: Platform, session_id: str, path: str) -> str:
    return platform.url.replace("http://", "ws://") + f"/apps/{session_id}/{path}"


def test_an_open_terminal_alone_is_culled_a_busy_one_is_not(
    platform: Platform, alice: httpx.Client
) -> None:
    idle = launch(alice, "terminal")
    busy = launch(alice, "terminal")
    wait_running(platform, alice, idle["id"])
    wait_running(platform, alice, busy["id"])

    async def scenario() -> None:
        cookie = {"cookie": session_cookie(alice)}
        async with (
            websockets.connect(
                _ws(platform, idle["id"], "ws"),
                additional_headers=cookie,
                origin=platform.url,  # type: ignore[arg-type]
            ),
            websockets.connect(
                _ws(platform, busy["id"], "ws"),
                additional_headers=cookie,
                origin=platform.url,  # type: ignore[arg-type]
            ) as shell,
        ):
            # both tabs stay open; one shell runs a long command in its foreground
            await shell.send(json.dumps({"type": "input", "data": "sleep 25\r"}))
            began = time.monotonic()
            while _card(alice, idle["id"])["phase"] != "ended":
                assert time.monotonic() - began < 40, "the idle terminal was never culled"
                await asyncio.sleep(0.5)
            assert _card(alice, idle["id"])["ended"] == "stopped after being idle"
            # well past the idle time, the busy one still runs
            await asyncio.sleep(3 * IDLE_SECONDS)
            assert _card(alice, busy["id"])["phase"] == "running"
            await shell.send(json.dumps({"type": "input", "data": "\x03"}))  # Ctrl-C: done

    asyncio.run(scenario())
    wait_until(lambda: _card(alice, busy["id"])["phase"] == "ended", 40, "the busy one culled")
    assert _card(alice, busy["id"])["ended"] == "stopped after being idle"
    assert "after being idle" in alice.get(f"/apps/{busy['id']}/").text


def test_a_busy_jupyter_kernel_counts_as_active(platform: Platform, alice: httpx.Client) -> None:
    session = launch(alice, "jupyter")
    sid = session["id"]
    wait_running(platform, alice, sid)
    alice.get(f"/apps/{sid}/lab")
    headers = {"x-xsrftoken": alice.cookies.get("_xsrf") or "", "origin": platform.url}
    kernel = alice.post(f"/apps/{sid}/api/kernels", json={"name": "python3"}, headers=headers)
    assert kernel.status_code == 201, kernel.text
    kernel_id = kernel.json()["id"]

    async def compute() -> None:
        cookies = "; ".join(f"{k}={v}" for k, v in alice.cookies.items())
        async with websockets.connect(
            _ws(platform, sid, f"api/kernels/{kernel_id}/channels"),
            additional_headers={"cookie": cookies},
            origin=platform.url,  # type: ignore[arg-type]
        ) as ws:
            header = {
                "msg_id": uuid.uuid4().hex,
                "msg_type": "execute_request",
                "username": "",
                "session": uuid.uuid4().hex,
                "version": "5.3",
            }
            code = "import time; time.sleep(20); 6*7"
            content = {"code": code, "silent": False, "store_history": True,
                       "user_expressions": {}, "allow_stdin": False}  # fmt: skip
            await ws.send(
                json.dumps(
                    {
                        "header": header,
                        "parent_header": {},
                        "metadata": {},
                        "channel": "shell",
                        "content": content,
                    }
                )
            )
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if message["msg_type"] == "execute_result":
                    assert message["content"]["data"]["text/plain"] == "42"
                    # 20 s of a silent computation, 5 × the idle time: never culled
                    assert _card(alice, sid)["phase"] == "running"
                    return

    asyncio.run(compute())
    wait_until(lambda: _card(alice, sid)["phase"] == "ended", 40, "the idle Jupyter culled")
    assert _card(alice, sid)["ended"] == "stopped after being idle"

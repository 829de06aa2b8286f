"""`hai apps` against a real server (local backend), as a user would run it: launch an app
with --wait, see it running in the sessions, extend it, stop it, see it ended as cancelled;
someone else's session is not found; refusals say why."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apps import stop_all_sessions
from tests.support.processes import Platform, wait_until

ECHO_APP = Path(__file__).parents[1] / "apps" / "echo_app.py"
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

[apps.quits]
title = "Quits at once"
command = ["{{python}}", "-c", "raise SystemExit(3)"]
mem = "128M"
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("apps-cli") / "home"
    apps_file = home.parent / "apps.toml"
    apps_file.write_text(APPS)
    p = Platform(home, HAI_APPS_FILE=str(apps_file), HAI_LOCAL_CPUS="4")
    p.start()
    try:
        yield p
    finally:
        stop_all_sessions(p)
        p.stop()


def hai(p: Platform, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hakutaku", *args],
        env=_env(p, key),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env(p: Platform, key: str | None) -> dict[str, str]:
    env = {**p.env, "COLUMNS": "200"}  # tables unwrapped
    if key:
        env["HAI_API_KEY"] = key
    return env


def user_key(p: Platform, name: str) -> str:
    assert hai(p, "users", "add", name).returncode == 0
    created = hai(p, "keys", "create", name)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


@pytest.fixture(scope="module")
def alice(platform: Platform) -> str:
    return user_key(platform, "alice")


@pytest.fixture(scope="module")
def bob(platform: Platform) -> str:
    return user_key(platform, "bob")


def test_launch_wait_extend_stop(platform: Platform, alice: str, bob: str) -> None:
    offered = hai(platform, "apps", "list", "--json", key=alice)
    assert offered.returncode == 0, offered.stderr
    echo = next(a for a in json.loads(offered.stdout) if a["name"] == "echo")
    assert echo["title"] == "Echo" and echo["mem"] == "256M"
    assert "Quits at once" in hai(platform, "apps", "list", key=alice).stdout

    # the laptop policy's `debug` QOS allows 15 minutes: 10 asked leave 5 to add
    args = ("apps", "launch", "echo", "--qos", "debug", "--time", "0:10:00", "--wait")
    launched = hai(platform, *args, key=alice)
    assert launched.returncode == 0, launched.stderr
    session_id, url = launched.stdout.split()
    assert url == f"{platform.url}/apps/{session_id}/"

    cards = json.loads(hai(platform, "apps", "sessions", "--json", key=alice).stdout)
    assert [c["id"] for c in cards] == [session_id]
    card = cards[0]
    assert card["phase"] == "running" and card["ended"] is None, card
    assert card["node"] and 0 < card["seconds_left"] <= 600 and card["url"] == url
    table = hai(platform, "apps", "sessions", key=alice).stdout
    row = next(line for line in table.splitlines() if session_id in line)
    assert row.split()[1:3] == ["echo", "running"] and url in row

    shown = hai(platform, "apps", "show", session_id, key=alice)
    assert shown.returncode == 0, shown.stderr
    assert "phase: running" in shown.stdout and "time_limit: 00:10:00" in shown.stdout
    assert hai(platform, "apps", "url", session_id, key=alice).stdout.strip() == url

    more = hai(platform, "apps", "extend", session_id, "--by", "5m", key=alice)
    assert more.returncode == 0, more.stderr
    assert f"session {session_id}: time limit 00:15:00" in more.stdout
    assert "no more may be asked" in more.stdout
    over = hai(platform, "apps", "extend", session_id, "--by", "1m", key=alice)
    assert over.returncode == 1 and "The MaxWall of QOS 'debug' allows at most 15 m" in over.stderr
    assert "(400, qos_max_wall)" in over.stderr

    # someone else's session is not there for them
    for command in (("show", session_id), ("stop", session_id), ("url", session_id)):
        other = hai(platform, "apps", *command, key=bob)
        assert other.returncode == 1, other.stdout
        assert f"No app session {session_id}" in other.stderr and "404" in other.stderr
    assert json.loads(hai(platform, "apps", "sessions", "--json", key=bob).stdout) == []

    stopped = hai(platform, "apps", "stop", session_id, "--wait", key=alice)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"session {session_id}: ended (cancelled)"
    card = json.loads(hai(platform, "apps", "sessions", "--json", key=alice).stdout)[0]
    assert (
        card["phase"] == "ended" and card["ended"] == "cancelled" and card["seconds_left"] is None
    )
    row = next(
        line
        for line in hai(platform, "apps", "sessions", key=alice).stdout.splitlines()
        if session_id in line
    )
    assert row.split()[1:4] == ["echo", "ended", "cancelled"]
    late = hai(platform, "apps", "extend", session_id, "--by", "1m", key=alice)
    assert late.returncode == 1 and "already ended" in late.stderr and "409" in late.stderr
    again = hai(platform, "apps", "stop", session_id, key=alice)  # stopping an ended one: its end
    assert again.returncode == 0 and "ended (cancelled)" in again.stdout


def test_wait_tells_why_it_waits(platform: Platform, alice: str) -> None:
    stop_all_sessions(platform)  # the machine's 4 CPUs free
    first = hai(platform, "apps", "launch", "echo", "--cpus", "4", "--wait", key=alice)
    assert first.returncode == 0, first.stderr
    first_id = first.stdout.split()[0]
    sdk = platform.client(alice)
    before = {c["id"] for c in sdk.apps.sessions()}
    args = [sys.executable, "-m", "hakutaku", "apps", "launch", "echo", "--cpus", "4", "--wait"]
    second = subprocess.Popen(
        args, env=_env(platform, alice), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:

        def waiting() -> dict[str, object] | None:
            cards = [c for c in sdk.apps.sessions() if c["id"] not in before]
            return cards[0] if cards and cards[0]["reason"] else None

        card = wait_until(waiting, 60, "the second session waiting for CPUs")
        assert card["phase"] == "starting"
        assert hai(platform, "apps", "stop", first_id, key=alice).returncode == 0
        out, err = second.communicate(timeout=90)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, err
    assert out.split()[0] == card["id"]
    assert f"session {card['id']}: waiting: {card['reason']}" in err
    hai(platform, "apps", "stop", str(card["id"]), "--wait", key=alice)


def test_bad_input_is_refused_clearly(platform: Platform, alice: str) -> None:
    unknown = hai(platform, "apps", "launch", "jupyterlab-pro", key=alice)
    assert unknown.returncode == 1
    assert "No app 'jupyterlab-pro'; apps:" in unknown.stderr
    assert "echo" in unknown.stderr and "terminal" in unknown.stderr
    too_long = hai(platform, "apps", "launch", "echo", "--time", "99-00:00:00", key=alice)
    assert too_long.returncode == 1 and "MaxTime" in too_long.stderr
    too_big = hai(platform, "apps", "launch", "echo", "--cpus", "100000", "--wait", key=alice)
    assert too_big.returncode == 1 and "never start" in too_big.stderr
    assert too_big.stdout == ""  # refused at launch: no session
    assert hai(platform, "apps", "show", "0123456789abcdef", key=alice).returncode == 1

    # an app that ends before it runs: --wait exits non-zero, saying how it ended
    quits = hai(platform, "apps", "launch", "quits", "--wait", key=alice)
    assert quits.returncode == 1
    session_id = quits.stdout.split()[0]
    assert f"session {session_id} ended without running: failed" in quits.stderr
    card = json.loads(hai(platform, "apps", "show", session_id, "--json", key=alice).stdout)
    assert card["phase"] == "ended" and card["ended"] == "failed"

    bad_by = hai(platform, "apps", "extend", session_id, "--by", "soon", key=alice)
    assert bad_by.returncode == 1 and "Cannot read the time 'soon'" in bad_by.stderr
    no_by = hai(platform, "apps", "extend", session_id, key=alice)
    assert no_by.returncode == 2 and "--by" in no_by.stderr

"""Worker tokens scoped to one model, with a real server and real worker processes."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.conftest import TEST_MODELS
from tests.support.processes import Platform, wait_until


def _token(p: Platform, key: str, model: str) -> httpx.Response:
    with p.http(key) as h:
        return h.post("/api/worker-tokens", json={"model": model, "note": "test"})


def _worker_argv(p: Platform, name: str) -> list[str]:
    return [sys.executable, "-m", "hakutaku", "worker", TEST_MODELS, "--server", p.url,
            "--name", name]  # fmt: skip


def test_a_scoped_token_serves_its_model_and_nothing_else(platform: Platform) -> None:
    alice = platform.add_user_key("alice")
    bob = platform.add_user_key("bob")
    r = _token(platform, alice, "alice-lab")
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token.startswith("hai-wt.") and r.json()["model"] == "alice-lab"

    # The name is alice's now: bob cannot get a token for it; an admin can.
    r = _token(platform, bob, "alice-lab")
    assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_yours"
    assert _token(platform, platform.admin_key, "alice-lab").status_code == 201

    # A worker with alice's token serves alice-lab; the gateway calls it with the secret the
    # worker chose at registration (the worker never saw the global token, and refuses it).
    env = {"HAI_WORKER_TOKEN": token}
    platform.start_worker(TEST_MODELS, name="alice-lab", env=env)
    with platform.http(bob) as h:
        r = h.post("/v1/models/alice-lab/add", json={"a": 2, "b": 40})
    assert r.status_code == 200 and r.json() == 42
    (row,) = platform.live_workers("alice-lab")
    with httpx.Client(base_url=row["url"], timeout=10) as h:
        args = {"a": 1, "b": 1}
        glob = {"authorization": f"Bearer {platform.worker_token}"}
        assert h.post("/call/add", json=args, headers=glob).status_code == 401
        own = {"authorization": f"Bearer {token}"}
        assert h.post("/call/add", json=args, headers=own).json() == 2

    # The same token naming another model is refused, and the server says so in its log.
    done = subprocess.run(
        _worker_argv(platform, "lab"), env={**platform.env, **env}, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "scoped to the model 'alice-lab' and cannot serve 'lab'" in done.stderr
    assert "tried to register model 'lab'" in (platform.home / "server.log").read_text()
    assert platform.live_workers("lab") == []


def test_a_scoped_registration_must_bring_a_call_token(platform: Platform) -> None:
    token = _token(platform, platform.admin_key, "raw").json()["token"]
    body = {"model": "raw", "url": "http://127.0.0.1:9", "methods": {"m": {}}}
    with httpx.Client(base_url=platform.url, timeout=10) as h:
        auth = {"authorization": f"Bearer {token}"}
        r = h.post("/api/workers/register", json=body, headers=auth)
        assert r.status_code == 400 and r.json()["error"]["param"] == "call_token"
        r = h.post("/api/workers/register", json={**body, "call_token": "c" * 32}, headers=auth)
        assert r.status_code == 200
        worker_id = r.json()["id"]
        # Another model's scoped token cannot beat for, or deregister, that worker.
        other = _token(platform, platform.admin_key, "other").json()["token"]
        theirs = {"authorization": f"Bearer {other}"}
        r = h.post(f"/api/workers/{worker_id}/heartbeat", json={}, headers=theirs)
        assert r.status_code == 403 and r.json()["error"]["code"] == "worker_token_scope"
        assert h.post(f"/api/workers/{worker_id}/deregister", headers=theirs).status_code == 403
        wrong = {"authorization": f"Bearer {token}x"}
        assert h.post("/api/workers/register", json=body, headers=wrong).status_code == 401


def test_a_revoked_token_stops_its_worker(platform: Platform) -> None:
    alice = platform.add_user_key("alice")
    made = _token(platform, alice, "alice-lab").json()
    proc = platform.start_worker(
        TEST_MODELS, name="alice-lab", env={"HAI_WORKER_TOKEN": made["token"]}
    )
    with platform.http(alice) as h:
        assert [t["id"] for t in h.get("/api/worker-tokens").json()] == [made["id"]]
        assert h.delete(f"/api/worker-tokens/{made['id']}").status_code == 200
        assert h.get("/api/worker-tokens").json() == []
    # Its next heartbeat is refused (401): the worker deregisters and exits.
    wait_until(lambda: not proc.alive(), 30, "the worker with a revoked token to exit")
    assert "refused the worker token" in proc.output()

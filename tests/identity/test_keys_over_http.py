"""Keys and users through /api and their effect on /v1, on a real server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.processes import Platform, wait_until


def _models(p: Platform, key: str | None, raw_header: str | None = None) -> httpx.Response:
    headers = {}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    if raw_header is not None:
        headers["authorization"] = raw_header
    return httpx.get(f"{p.url}/v1/models", headers=headers)


def test_bootstrap_files_are_private(platform: Platform) -> None:
    for name in ("bootstrap-admin.key", "worker.token", "server.secret"):
        mode = (platform.home / name).stat().st_mode & 0o777
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    assert platform.admin_key.startswith("hai-")


def test_missing_bad_and_revoked_keys(platform: Platform) -> None:
    missing = _models(platform, None)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert _models(platform, None, raw_header="Basic abc").status_code == 401
    wrong = _models(platform, "hai-abcdefgh.not-the-secret")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "authentication_error"
    key = platform.add_user_key("frank")
    assert _models(platform, key).status_code == 200
    with platform.http() as h:
        key_id = h.get("/api/keys", params={"user": "frank"}).json()[0]["id"]
        assert h.delete(f"/api/keys/{key_id}").status_code == 200
    revoked = _models(platform, key)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]["message"]


def test_disabled_user_and_admin_only_endpoints(platform: Platform) -> None:
    key = platform.add_user_key("gina")
    with httpx.Client(base_url=platform.url, headers={"authorization": f"Bearer {key}"}) as user:
        assert user.get("/api/me").json()["name"] == "gina"
        denied = user.get("/api/users")
        assert denied.status_code == 403
        assert denied.json()["error"]["type"] == "permission_error"
        assert user.post("/api/keys", json={"user": "admin"}).status_code == 403
        own = user.post("/api/keys", json={"name": "second"})
        assert own.status_code == 201 and own.json()["key"].startswith("hai-")
        assert [k["user"] for k in user.get("/api/keys").json()] == ["gina", "gina"]
    with platform.http() as h:
        assert h.patch("/api/users/gina", json={"disabled": True}).status_code == 200
    assert _models(platform, key).status_code == 401


def test_last_used_is_recorded_in_batches(platform: Platform) -> None:
    key = platform.add_user_key("hank")
    assert _models(platform, key).status_code == 200

    def last_used() -> str | None:
        with platform.http() as h:
            return h.get("/api/keys", params={"user": "hank"}).json()[0]["last_used_at"]

    assert wait_until(last_used, 10, "last_used_at to be written")


def test_worker_endpoints_refuse_user_keys(platform: Platform) -> None:
    body = {"model": "intruder", "url": "http://127.0.0.1:9"}
    with platform.http() as h:
        r = h.post("/api/workers/register", json=body)
    assert r.status_code == 401
    assert "worker token" in r.json()["error"]["message"]
    r = httpx.post(f"{platform.url}/api/workers/register", json=body)
    assert r.status_code == 401


def test_validation_errors_are_openai_shaped(platform: Platform) -> None:
    with platform.http() as h:
        r = h.post("/api/users", json={"role": "user"})
        assert r.status_code == 422
        assert r.json()["error"]["param"] == "name"
        assert h.get("/nowhere").status_code == 404
        assert h.get("/nowhere").json()["error"]["type"] == "not_found_error"


def test_api_refuses_oversized_bodies_before_reading(tmp_path: Path) -> None:
    p = Platform(tmp_path / "home", HAI_MAX_BODY_BYTES="1000").start()
    try:
        r = httpx.post(f"{p.url}/api/users", content=b"x" * 5000)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"
    finally:
        p.stop()


def test_replica_with_another_secret_refuses_to_start(tmp_path: Path) -> None:
    first = Platform(tmp_path / "one").start()
    first.stop()
    url = f"sqlite:///{first.home / 'hakutaku.db'}"
    second = Platform(tmp_path / "two", database_url=url)
    with pytest.raises(RuntimeError, match="server exited"):
        second.start()
    assert second.server is not None
    assert "same secret" in second.server.output()
    shared = Platform(
        tmp_path / "three",
        database_url=url,
        HAI_SERVER_SECRET=first.home.joinpath("server.secret").read_text().strip(),
    ).start()
    try:
        with httpx.Client(base_url=shared.url) as h:
            r = h.get("/api/me", headers={"authorization": f"Bearer {first.admin_key}"})
        assert r.status_code == 200 and r.json()["name"] == "admin"
    finally:
        shared.stop()

"""Per-key rate limits on model calls: the bucket arithmetic, and 429s from a real server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from hakutaku.cli.identity import keys
from hakutaku.metering import ratelimit
from hakutaku.metering.ratelimit import RateLimiter
from tests.conftest import TEST_MODELS
from tests.support.processes import Platform


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_minutes_calls_then_one_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.take(1, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(1, 3) == pytest.approx(20.0)  # 3 a minute: one every 20 s
    assert limiter.take(2, 3) == 0.0  # other keys have their own buckets
    clock.now += 15
    assert limiter.take(1, 3) == pytest.approx(5.0)  # refused calls take nothing
    clock.now += 5
    assert limiter.take(1, 3) == 0.0
    assert limiter.take(1, 3) > 0
    clock.now += 3600  # refilled, but never above the limit
    assert [limiter.take(1, 3) for _ in range(4)][3] > 0
    assert limiter.take(1, 600) == 0.0  # a changed limit starts a full bucket


def test_the_bucket_table_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_BUCKETS", 10)
    clock = Clock()
    limiter = RateLimiter(clock)
    for key_id in range(10):
        clock.now += 1
        limiter.take(key_id, 1)
    clock.now += 30
    limiter.take(99, 1)  # all ten busy within the minute: the longest idle half goes
    assert len(limiter._buckets) == 5
    assert limiter.take(9, 1) > 0  # the most recent keep their state
    clock.now += 60
    for key_id in range(100, 106):
        limiter.take(key_id, 1)  # idle a minute: full again, forgotten without changing anything
    assert len(limiter._buckets) == 6


def test_keys_get_429_past_their_limit_and_admins_set_limits(tmp_path: Path) -> None:
    p = Platform(tmp_path / "home", HAI_RATE_LIMIT="3").start()
    try:
        p.start_worker(TEST_MODELS + ":Lab")
        key = p.add_user_key("rita")

        def call() -> httpx.Response:
            return httpx.post(
                f"{p.url}/v1/models/lab/add",
                json={"a": 1, "b": 2},
                headers={"authorization": f"Bearer {key}"},
            )

        assert [call().status_code for _ in range(3)] == [200, 200, 200]
        refused = call()
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
        assert "3 model calls per minute" in error["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 20

        with p.http(key) as rita:
            # the control API is not rate-limited, and users cannot lift their own limit
            key_id = rita.get("/api/keys").json()[0]["id"]
            assert rita.patch(f"/api/keys/{key_id}", json={"rate_limit": 100}).status_code == 403
            own = rita.post("/api/keys", json={"rate_limit": 100})
            assert own.status_code == 403 and "rate limit" in own.json()["error"]["message"]
        with p.http() as admin:
            unknown = admin.patch("/api/keys/9999", json={"rate_limit": 10})
            assert unknown.status_code == 404 and "no API key" in unknown.text
            bad = admin.patch(f"/api/keys/{key_id}", json={"rate_limit": 0})
            assert bad.status_code == 422 and "rate_limit" in bad.text
            raised = admin.patch(f"/api/keys/{key_id}", json={"rate_limit": 100})
            assert raised.status_code == 200 and raised.json()["rate_limit"] == 100
            assert [call().status_code for _ in range(5)] == [200] * 5  # at once
            created = admin.post("/api/keys", json={"user": "rita", "rate_limit": 1})
            assert created.status_code == 201 and created.json()["rate_limit"] == 1
            one = created.json()["key"]
        with p.http(one) as h:
            statuses = [h.post("/v1/models/lab/add", json={"a": 1, "b": 1}).status_code]
            statuses.append(h.post("/v1/models/lab/add", json={"a": 1, "b": 1}).status_code)
        assert statuses == [200, 429]

        runner = CliRunner()
        env = {"HAI_URL": p.url, "HAI_API_KEY": p.admin_key, "HAI_HOME": str(p.home)}
        result = runner.invoke(keys, ["limit", str(key_id), "default"], env=env)
        assert result.exit_code == 0 and "default" in result.stdout, result.output
        assert call().status_code == 200  # a full bucket of the default 3 again
        result = runner.invoke(keys, ["limit", str(key_id), "fast"], env=env)
        assert result.exit_code == 2 and "whole number" in result.output
        result = runner.invoke(keys, ["list", "--json"], env=env)
        limits = {row["id"]: row["rate_limit"] for row in __import__("json").loads(result.stdout)}
        assert limits[key_id] is None and 1 in limits.values()
    finally:
        p.stop()

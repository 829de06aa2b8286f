"""GET /api/usage/daily and /api/usage/monthly against a real server with a real worker and
real jobs: the numbers are the calls and jobs made, each user reads only their own (and their
groups'), and the SDK and `hai usage --daily` / `hai usage monthly` say the same."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_MODELS
from tests.support.processes import Platform, wait_until


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    p = Platform(tmp_path_factory.mktemp("series") / "home", HAI_SCHEDULER_INTERVAL="0.2")
    p.start()
    try:
        p.start_worker(TEST_MODELS + ":Lab")
        keys = {"alice": p.add_user_key("alice", ("cms",)), "bob": p.add_user_key("bob")}
        with p.http(keys["alice"]) as h:
            for i in range(3):
                assert h.post("/v1/models/lab/add", json={"a": i, "b": 1}).status_code == 200
            assert h.post("/v1/models/lab/fail", json={}).status_code == 500
            chat = {"model": "lab", "messages": [{"role": "user", "content": "one two three"}]}
            reply = h.post("/v1/chat/completions", json=chat)
            assert reply.status_code == 200
            # long enough to bill: a ledger row holds whole micro-hours (3.6 ms of a core)
            job = h.post(
                "/api/jobs", json={"command": ["sleep", "0.1"], "account": "cms", "cpus": 1}
            )
            assert job.status_code == 201, job.text
        with p.http(keys["bob"]) as h:
            for _ in range(2):
                assert h.post("/v1/models/lab/add", json={"a": 1, "b": 1}).status_code == 200
        job_id = job.json()["id"]
        with p.http() as h:
            wait_until(
                lambda: h.get(f"/api/jobs/{job_id}").json()["state"] == "completed",
                60,
                "the job to complete",
            )
            # the calls reach the database in batches: collect once the last one has landed
            wait_until(lambda: sum(r["calls"] for r in daily(p).json()) == 7, 10, "usage rows")
            assert h.post("/api/usage/collect").status_code == 200
        yield {"platform": p, "keys": keys, "usage": reply.json()["usage"]}
    finally:
        p.stop()


def daily(p: Platform, key: str | None = None, **params: str) -> httpx.Response:
    with p.http(key) as h:
        return h.get("/api/usage/daily", params=params)


def test_daily_usage_has_the_calls_made_per_model_and_day(lab: dict[str, Any]) -> None:
    p, keys = lab["platform"], lab["keys"]
    today = datetime.now(UTC).date().isoformat()
    mine = daily(p, keys["alice"]).json()
    assert mine == [
        {
            "day": today,
            "model": "lab",
            "calls": 5,
            "errors": 1,
            "prompt_tokens": lab["usage"]["prompt_tokens"],
            "completion_tokens": lab["usage"]["completion_tokens"],
        }
    ]
    assert daily(p, keys["bob"]).json()[0]["calls"] == 2
    everyone = daily(p).json()  # an admin without `user`: all users
    assert sum(r["calls"] for r in everyone) == 7
    assert daily(p, user="bob").json()[0]["calls"] == 2
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert daily(p, keys["alice"], until=yesterday).json() == []


def test_daily_usage_refusals(lab: dict[str, Any]) -> None:
    p, keys = lab["platform"], lab["keys"]
    other = daily(p, keys["bob"], user="alice")
    assert other.status_code == 403
    assert other.json()["error"]["message"] == "Only admins may read other users' usage."
    long = daily(p, keys["alice"], since="2020-01-01", until="2024-01-01")
    assert long.status_code == 400 and long.json()["error"]["param"] == "since"
    assert daily(p, keys["alice"], since="soon").status_code == 422
    assert daily(p, user="nobody").status_code == 404
    assert httpx.get(f"{p.url}/api/usage/daily").status_code == 401


def test_monthly_use_has_the_jobs_hours_and_follows_the_statement_rules(
    lab: dict[str, Any],
) -> None:
    p, keys = lab["platform"], lab["keys"]
    month = datetime.now(UTC).strftime("%Y-%m")
    with p.http(keys["alice"]) as h:
        jobs = h.get("/api/usage/monthly", params={"source": "job"}).json()
        group = h.get("/api/usage/monthly", params={"account": "cms", "source": "job"}).json()
        ledger = h.get("/api/usage/ledger", params={"source": "job"}).json()
        models = h.get("/api/usage/monthly", params={"source": "model"}).json()
    assert [(r["period"], r["resource"], r["unit"]) for r in jobs] == [(month, "cpu", "hour")]
    assert Decimal(jobs[0]["quantity"]) == sum(Decimal(r["quantity"]) for r in ledger) > 0
    assert group == jobs
    assert {r["resource"] for r in models} == {"model:lab:calls", "model:lab:tokens"}
    calls = next(r for r in models if r["resource"] == "model:lab:calls")
    assert calls["quantity"] == "4"  # the failed call is not billed
    with p.http(keys["bob"]) as h:
        assert h.get("/api/usage/monthly", params={"source": "job"}).json() == []
        refused = h.get("/api/usage/monthly", params={"account": "cms"})
        assert refused.status_code == 403 and "not a member of 'cms'" in refused.text
        assert h.get("/api/usage/monthly", params={"user": "alice"}).status_code == 403
        bad = h.get("/api/usage/monthly", params={"source": "jobs"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "source"
        assert h.get("/api/usage/monthly", params={"since": "2025-13"}).status_code == 400


def test_sdk_and_cli_read_the_same_series(lab: dict[str, Any]) -> None:
    p, keys = lab["platform"], lab["keys"]
    alice = p.client(keys["alice"])
    try:
        assert alice.usage.daily() == daily(p, keys["alice"]).json()
        assert alice.usage.daily(model="nothing") == []
        assert alice.usage.monthly(source="job")[0]["resource"] == "cpu"
    finally:
        alice.close()
    env = {**p.env, "HAI_API_KEY": keys["alice"]}

    def hai(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hakutaku", "usage", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    printed = hai("--daily", "--json")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == daily(p, keys["alice"]).json()
    table = hai("--daily")
    assert "completion_tokens" in table.stdout and "lab" in table.stdout
    monthly = hai("monthly", "--source", "job")
    assert monthly.returncode == 0 and "cpu" in monthly.stdout
    refused = hai("monthly", "--account", "atlas")
    assert refused.returncode == 1 and "not a member of 'atlas'" in refused.stderr

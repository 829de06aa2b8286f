"""Names a caller makes up never reach metrics or usage: a flood of unknown models and methods,
with and without a key, leaves /metrics the same size and writes no label set or usage row of
the caller's choosing."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import TEST_MODELS
from tests.support.processes import Platform, wait_until

SERIES = re.compile(rb"^([a-z_]+(?:\{[^}]*\})?) ", re.MULTILINE)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("names") / "home").start()
    try:
        p.start_worker(TEST_MODELS + ":Lab")
        # the registry's next refresh adds the worker's own series; the test compares after it
        wait_until(lambda: b'hai_workers{model="lab"}' in _metrics(p), 30, "the worker gauge")
        yield p
    finally:
        p.stop()


def _metrics(p: Platform) -> bytes:
    return httpx.get(f"{p.url}/metrics", timeout=10).content


def _series(body: bytes) -> set[bytes]:
    return set(SERIES.findall(body))


def _flood(h: httpx.Client, n: int, auth: dict[str, str]) -> None:
    for _ in range(n):
        name = os.urandom(6).hex()
        r = h.post(f"/v1/models/{name}/m", json={}, headers=auth)
        assert r.status_code in (401, 404), r.text
        r = h.post(f"/v1/models/lab/{name}", json={}, headers=auth)
        assert r.status_code in (401, 404), r.text
        chat = {"model": name, "messages": [{"role": "user", "content": "x"}]}
        r = h.post("/v1/chat/completions", json=chat, headers=auth)
        assert r.status_code in (401, 404), r.text


def test_a_flood_of_made_up_names_leaves_metrics_the_same_size(served: Platform) -> None:
    key = served.add_user_key("mallory")
    no_key: dict[str, str] = {}
    bad_key = {"authorization": "Bearer hai-nothing.at-all"}
    good_key = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=served.url, timeout=30) as h:
        # One round of each kind creates the fixed series; a thousand more must add nothing.
        for auth in (no_key, bad_key, good_key):
            _flood(h, 1, auth)
        before = _metrics(served)
        for auth in (no_key, bad_key, good_key):
            _flood(h, 1000, auth)
        after = _metrics(served)
    assert _series(after) == _series(before)
    # Only counter values grew (a few digits each), nothing else.
    assert len(after) - len(before) < 300, (len(before), len(after))
    assert b'model="(unknown)"' in after
    assert b"hai_usage_dropped_total 0.0" in after


def test_usage_rows_carry_only_resolved_names(served: Platform) -> None:
    key = served.add_user_key("trudy")
    with served.http(key) as h:
        assert h.post("/v1/models/lab/add", json={"a": 1, "b": 2}).status_code == 200
        assert h.post("/v1/models/lab/no-such-method", json={}).status_code == 404
        assert h.post("/v1/models/no-such-model/add", json={}).status_code == 404
    engine = create_engine(f"sqlite:///{Path(served.home) / 'hakutaku.db'}")
    deadline = time.monotonic() + 20
    rows: list[tuple[str, str, int]] = []
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            rows = [
                (r.model, r.method, r.status)
                for r in conn.execute(
                    text(
                        "SELECT e.model, e.method, e.status FROM usage_events e JOIN users u "
                        "ON u.id = e.user_id WHERE u.name = 'trudy' ORDER BY e.id"
                    )
                )
            ]
        if len(rows) >= 2:
            break
        time.sleep(0.2)
    engine.dispose()
    # The unknown method is metered under the fixed label; the unknown model not at all.
    assert rows == [("lab", "add", 200), ("lab", "(unknown)", 404)]


def test_v1_routing_table_answers_unknown_paths_and_methods_in_openai_shape(
    served: Platform,
) -> None:
    with served.http() as h:
        r = h.get("/v1/chat/completions")
        assert r.status_code == 405
        assert r.json()["error"]["code"] == "method_not_allowed"
        assert r.headers["allow"] == "POST"
        r = h.post("/v1/nothing-here", json={})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
        r = h.delete("/v1/models/lab")
        assert r.status_code == 405
        assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}
        assert h.get("/v1/models/lab").json()["id"] == "lab"
        assert h.get("/v1/models").status_code == 200

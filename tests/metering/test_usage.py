"""Usage rows match the calls made, and none are lost when the server shuts down."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import TEST_MODELS
from tests.support.processes import Platform


def _rows(url: str) -> list[dict]:
    engine = create_engine(url)
    with engine.connect() as conn:
        result = conn.execute(
            text(
                "SELECT u.name AS user, e.model, e.method, e.status, e.prompt_tokens, "
                "e.completion_tokens, e.request_id FROM usage_events e "
                "LEFT JOIN users u ON u.id = e.user_id ORDER BY e.id"
            )
        )
        rows = [dict(r._mapping) for r in result]
    engine.dispose()
    return rows


def make_calls(p: Platform, key: str) -> dict[tuple[str, str, int], int]:
    """A mix of calls; returns how many of each (model, method, status) were made."""
    made: dict[tuple[str, str, int], int] = {}

    def count(model: str, method: str, status: int) -> None:
        made[(model, method, status)] = made.get((model, method, status), 0) + 1

    with p.http(key) as h:
        for i in range(25):
            assert h.post("/v1/models/lab/add", json={"a": i, "b": 1}).status_code == 200
            count("lab", "add", 200)
        for _ in range(3):
            assert h.post("/v1/models/lab/fail", json={}).status_code == 500
            count("lab", "fail", 500)
        with h.stream("POST", "/v1/models/lab/count", json={"n": 10}) as r:
            assert len([line for line in r.iter_lines() if line]) == 10
        count("lab", "count", 200)
        chat = {"model": "lab", "messages": [{"role": "user", "content": "one two three"}]}
        assert h.post("/v1/chat/completions", json=chat).status_code == 200
        count("lab", "chat_completions", 200)
        with h.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as r:
            body = r.read()
        assert b"[DONE]" in body and b'"usage"' not in body
        count("lab", "chat_completions", 200)
        # An unknown model is refused before it resolves: metrics count it, usage has no row.
        assert h.post("/v1/models/ghost/x", json={}).status_code == 404
        # A made-up method of a real model is metered under the fixed label.
        assert h.post("/v1/models/lab/no-such-method", json={}).status_code == 404
        count("lab", "(unknown)", 404)
    return made


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_usage_matches_calls_and_survives_shutdown(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    # A long flush interval: only the shutdown flush can have written the rows.
    p = Platform(tmp_path / "home", database_url=url, HAI_USAGE_FLUSH_INTERVAL="3600").start()
    try:
        p.start_worker(TEST_MODELS + ":Lab")
        key = p.add_user_key("ivy")
        made = make_calls(p, key)
    finally:
        p.stop(signal.SIGTERM)
    # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean exit too.
    assert p.server is not None and p.server.popen.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in p.server.output()
    rows = _rows(url or f"sqlite:///{p.home / 'hakutaku.db'}")
    assert all(r["user"] == "ivy" for r in rows)
    seen: dict[tuple[str, str, int], int] = {}
    for r in rows:
        k = (r["model"], r["method"], r["status"])
        seen[k] = seen.get(k, 0) + 1
    assert seen == made
    assert len({r["request_id"] for r in rows}) == len(rows)
    chats = [r for r in rows if r["method"] == "chat_completions"]
    # Both chat calls metered their tokens, the stream's from its (hidden) usage chunk.
    assert [(c["prompt_tokens"] > 0, c["completion_tokens"]) for c in chats] == [
        (True, 3),
        (True, 3),
    ]

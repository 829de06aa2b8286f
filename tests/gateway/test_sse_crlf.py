"""An upstream that ends SSE events with CRLF (sse-starlette's default; the spec allows CRLF, LF
and CR) is relayed event by event and its usage is billed.

The upstream is the TEST DOUBLE of a paid provider (tests/support/upstream_double.py): it sends
the first content event, then holds the stream until the test releases it, so the test sees
that the event reached the caller while the upstream was still producing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.support.processes import Platform
from tests.support.upstream import upstream_double

UPSTREAM_KEY = "sk-double-crlf"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with upstream_double(UPSTREAM_KEY) as url:
        yield url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("crlf") / "home").start()
    try:
        with p.http() as h:
            r = h.post(
                "/api/models/upstream",
                json={
                    # a namespaced name, as the field writes them
                    "name": "provider/gpt-double-crlf",
                    "base_url": f"{upstream}/v1",
                    "api_key": UPSTREAM_KEY,
                    "upstream_model": "gpt-double-crlf",
                },
            )
            assert r.status_code == 201, r.text
        yield p
    finally:
        p.stop()


def _usage(p: Platform, model: str) -> list[dict]:
    with p.http() as h:
        return [r for r in h.get("/api/usage", params={"model": model}).json()]


@pytest.mark.parametrize("include_usage", [False, True])
def test_crlf_events_reach_the_caller_as_produced_and_are_billed(
    served: Platform, upstream: str, include_usage: bool
) -> None:
    model = "provider/gpt-double-crlf"
    before = sum(r["completion_tokens"] for r in _usage(served, model))
    body = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": "one two three"}],
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    # The first event must arrive while the upstream holds the rest back: a gateway that
    # waits for LF LF would deliver nothing until the stream ends (the read times out).
    timeout = httpx.Timeout(60, read=15)
    received = b""
    with (
        httpx.Client(base_url=served.url, timeout=timeout) as h,
        h.stream(
            "POST",
            "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {served.admin_key}"},
        ) as r,
    ):
        assert r.status_code == 200
        chunks = r.iter_raw()
        while b"\r\n\r\n" not in received:
            received += next(chunks)
        first = orjson.loads(received.split(b"\r\n")[0][len(b"data: ") :])
        assert first["choices"][0]["delta"]["content"] == "upstream"
        assert httpx.post(f"{upstream}/_release", timeout=5).status_code == 200
        for chunk in chunks:
            received += chunk
    # Relayed byte for byte: CRLF events, the [DONE] marker, usage only when asked for.
    events = [e for e in received.split(b"\r\n\r\n") if e]
    assert events[-1] == b"data: [DONE]"
    assert all(e.startswith(b"data: ") for e in events)
    assert (b'"usage":{' in received) is include_usage
    words = ["upstream", "says:", "one", "two", "three"]
    # Billed: the double counts 7 prompt tokens and one completion token per word.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        after = sum(r["completion_tokens"] for r in _usage(served, model))
        if after > before:
            break
        time.sleep(0.2)
    assert after - before == len(words)
    row = _usage(served, model)[0]
    assert row["method"] == "chat_completions"
    assert row["prompt_tokens"] % 7 == 0 and row["prompt_tokens"] > 0

"""The worker HTTP app: in-process through ASGI, and a real `hai worker` process over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest

from hakutaku.codec import (
    ERROR_KEY,
    JSON,
    MSGPACK,
    NDJSON,
    SSE,
    FrameDecoder,
    decode,
    encode,
    stream_error,
)
from hakutaku.workers.runtime import WorkerState, create_worker_app

pytestmark = pytest.mark.anyio

TOKEN = "test-worker-token"  # the conftest's `token` fixture
AUTH = {"authorization": f"Bearer {TOKEN}"}
JETS = np.random.default_rng(1).normal(size=(8, 64, 7)).astype(np.float32)


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://worker",
        headers=AUTH,
        timeout=60,
    )


@pytest.fixture
async def worker(
    toy: object, token: str
) -> AsyncIterator[tuple[httpx.AsyncClient, WorkerState, Any]]:
    assert token == TOKEN
    app = create_worker_app(toy, "toy", TOKEN, max_inflight=4)
    async with _client(app) as client:
        yield client, app.state.worker, toy


def _error(response: httpx.Response, status: int, type_: str, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(JSON)
    err = response.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["type"], err["code"]) == (type_, code)
    return err


async def test_token_is_required(toy: object) -> None:
    app = create_worker_app(toy, "toy", TOKEN, max_inflight=4)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://worker"
    ) as client:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
            for response in (
                await client.post("/call/add", json={"a": 1}, headers=headers),
                await client.get("/info", headers=headers),
                await client.get("/healthz", headers=headers),
            ):
                _error(response, 401, "authentication_error", "invalid_worker_token")
        ok = await client.get("/healthz", headers={"authorization": f"bearer {TOKEN}"})
        assert ok.json() == {"status": "ok", "inflight": 0}


def test_empty_token_is_refused(toy: object) -> None:
    with pytest.raises(ValueError, match="token"):
        create_worker_app(toy, "toy", "", max_inflight=1)


async def test_info(worker: Any) -> None:
    client, _, _ = worker
    info = (await client.get("/info")).json()
    assert info["model"] == "toy"
    assert info["description"] == "Toy model: arithmetic, arrays, streams and failures."
    assert info["max_inflight"] == 4 and info["inflight"] == 0 and info["served"] == 0
    methods = info["methods"]
    assert methods["add"] == {"kind": "sync", "params": ["a", "b"], "doc": "Add two numbers."}
    assert methods["aecho"]["kind"] == "async"
    assert methods["count"]["kind"] == "generator"
    assert methods["acount"]["kind"] == "asyncgen"


async def test_plain_calls(worker: Any) -> None:
    client, state, _ = worker
    assert (await client.post("/call/add", json={"a": 2, "b": 40})).json() == 42
    assert (await client.post("/call/aecho", json={"value": {"x": [1, 2]}})).json() == {"x": [1, 2]}
    # an empty body means no arguments
    response = await client.post("/call/fast", content=b"")
    assert response.json() == "fast"
    assert response.headers["content-type"] == JSON
    assert "x-hai-stream" not in response.headers
    assert state.served == 3 and state.inflight == 0


async def test_usage_header(worker: Any) -> None:
    client, _, _ = worker
    response = await client.post("/call/chat", json={"request": {"messages": []}})
    assert response.headers["x-hai-usage"] == "5,7"
    assert "x-hai-usage" not in (await client.post("/call/add", json={"a": 1})).headers


async def test_unknown_method(worker: Any) -> None:
    client, _, _ = worker
    err = _error(await client.post("/call/nope", json={}), 404, "not_found_error", "unknown_method")
    assert "nope" in err["message"] and "add" in err["message"]
    _error(await client.get("/elsewhere"), 404, "not_found_error", "not_found")


@pytest.mark.parametrize(
    ("content", "headers", "match"),
    [
        (b"{not json", {}, "cannot decode the request body: invalid JSON"),
        (b"[1, 2]", {}, "must be an object of keyword arguments, not list"),
        (b"\xc1", {"content-type": "application/msgpack"}, "invalid msgpack"),
        (encode([1], MSGPACK), {"content-type": "application/x-msgpack"}, "not list"),
    ],
)
async def test_bad_body(worker: Any, content: bytes, headers: dict[str, str], match: str) -> None:
    client, _, _ = worker
    err = _error(
        await client.post("/call/add", content=content, headers=headers),
        400,
        "invalid_request_error",
        "invalid_body",
    )
    assert match in err["message"]


async def test_bad_arguments_name_the_parameter(worker: Any) -> None:
    client, state, _ = worker
    err = _error(
        await client.post("/call/add", json={"b": 1}),
        400,
        "invalid_request_error",
        "invalid_arguments",
    )
    assert err["param"] == "a" and "missing required argument 'a'" in err["message"]
    err = _error(
        await client.post("/call/add", json={"a": 1, "c": 2}),
        400,
        "invalid_request_error",
        "invalid_arguments",
    )
    assert err["param"] == "c" and "unexpected argument 'c'" in err["message"]
    assert "toy.add" in err["message"]
    assert state.inflight == 0


async def test_exception_is_a_500_naming_model_method_and_error(worker: Any) -> None:
    client, state, _ = worker
    err = _error(await client.post("/call/fail"), 500, "server_error", "model_error")
    assert err["message"] == "toy.fail raised RuntimeError: broken on purpose"
    assert state.inflight == 0


async def test_value_error_is_the_callers_400(worker: Any) -> None:
    client, state, _ = worker
    response = await client.post("/call/reject", json={"x": -1})
    err = _error(response, 400, "invalid_request_error", "invalid_input")
    assert err["message"] == "toy.reject rejected the input: x must be positive, got -1"
    assert state.inflight == 0


async def test_msgpack_numpy_round_trip(worker: Any) -> None:
    client, _, _ = worker
    response = await client.post(
        "/call/scale",
        content=encode({"x": JETS}, MSGPACK),
        headers={"content-type": MSGPACK},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == MSGPACK  # answered in the request's encoding
    out = decode(response.content, MSGPACK)
    assert out.dtype == np.float32 and out.shape == (8, 64, 7)
    np.testing.assert_array_equal(out, JETS * 3)
    # Accept wins over the request's encoding
    response = await client.post(
        "/call/scale",
        content=encode({"x": JETS[:1, :2]}, MSGPACK),
        headers={"content-type": MSGPACK, "accept": JSON},
    )
    assert response.headers["content-type"] == JSON
    np.testing.assert_allclose(np.array(response.json(), dtype=np.float32), JETS[:1, :2] * 3)


@pytest.mark.parametrize("method", ["count", "acount"])
@pytest.mark.parametrize("accept", [JSON, MSGPACK, SSE])
async def test_streams(worker: Any, method: str, accept: str) -> None:
    client, state, _ = worker
    response = await client.post(f"/call/{method}", json={"n": 3}, headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["x-hai-stream"] == "1"
    expected = {JSON: NDJSON, MSGPACK: MSGPACK, SSE: SSE}[accept]
    assert response.headers["content-type"].split(";")[0] == expected
    if accept == SSE:
        assert response.content.endswith(b"data: [DONE]\n\n")
    decoder = FrameDecoder(expected)
    assert decoder.feed(response.content) == [{"i": 0}, {"i": 1}, {"i": 2}]
    decoder.finish()
    assert state.inflight == 0 and state.served == 1


async def test_empty_stream(worker: Any) -> None:
    client, _, _ = worker
    response = await client.post("/call/count", json={"n": 0}, headers={"accept": SSE})
    assert response.status_code == 200 and response.content == b"data: [DONE]\n\n"


@pytest.mark.parametrize("accept", [JSON, MSGPACK, SSE])
async def test_mid_stream_error_frame(worker: Any, accept: str) -> None:
    client, state, _ = worker
    response = await client.post("/call/fail_after", json={"n": 2}, headers={"accept": accept})
    assert response.status_code == 200
    media = {JSON: NDJSON, MSGPACK: MSGPACK, SSE: SSE}[accept]
    frames = FrameDecoder(media).feed(response.content)
    assert frames[:2] == [{"i": 0}, {"i": 1}] and len(frames) == 3
    err = stream_error(frames[2], media)
    assert err is not None
    assert err["message"] == "toy.fail_after raised RuntimeError: stream broke"
    assert err["type"] == "server_error" and err["code"] == "model_error"
    if accept == SSE:
        assert set(frames[2]) == {"error"} and b"[DONE]" not in response.content
    else:
        assert set(frames[2]) == {ERROR_KEY}
    assert state.inflight == 0


async def test_stream_failing_before_its_first_item_is_a_plain_500(worker: Any) -> None:
    client, state, _ = worker
    response = await client.post("/call/fail_after", json={"n": 0}, headers={"accept": SSE})
    err = _error(response, 500, "server_error", "model_error")
    assert err["message"] == "toy.fail_after raised RuntimeError: stream broke"
    assert state.inflight == 0


async def test_inflight_limit_answers_429_at_once(toy: Any) -> None:
    app = create_worker_app(toy, "toy", TOKEN, max_inflight=1)
    state: WorkerState = app.state.worker
    async with _client(app) as client:
        blocked = asyncio.create_task(client.post("/call/block"))
        while state.inflight < 1:
            await asyncio.sleep(0.01)
        err = _error(await client.post("/call/fast"), 429, "rate_limit_error", "worker_busy")
        assert "1 calls in flight" in err["message"]
        health = (await client.get("/healthz")).json()
        assert health == {"status": "ok", "inflight": 1}  # /info and /healthz are not limited
        toy.release.set()
        assert (await blocked).json() == "released"
        assert (await client.post("/call/fast")).json() == "fast"
        assert state.inflight == 0


async def test_slow_sync_method_does_not_block_other_calls(worker: Any) -> None:
    client, state, toy = worker
    slow = asyncio.create_task(client.post("/call/slow"))
    while state.inflight < 1:
        await asyncio.sleep(0.01)
    # The slow call holds a thread, blocked until the gate opens; the event loop is free.
    fast = await client.post("/call/fast")
    assert fast.json() == "fast"
    assert not slow.done() and state.inflight == 1
    toy.gate.set()
    assert (await slow).json() == "slow done"


# ---------------------------------------------------------------------------- real process


async def test_real_worker_over_http(
    registry: Any, start_worker: Any, model_file: Any, wait: Any
) -> None:
    registry.start()
    proc = start_worker(f"{model_file}:Toy", "--server", registry.url, "--host", "127.0.0.1")
    proc.wait_for_output("worker toy serving http://127.0.0.1:")
    await asyncio.to_thread(wait, lambda: registry.issued(), 60, "registration")
    url = registry.of("register")[-1][2]["url"]
    assert f"worker toy serving {url} for {registry.url}" in proc.output()

    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
        info = (await client.get("/info")).json()
        assert info["model"] == "toy" and info["max_inflight"] == 4  # from the class
        assert (await client.post("/call/add", json={"a": 1, "b": 2})).json() == 3
        assert (
            await client.get("/info", headers={"authorization": "Bearer no"})
        ).status_code == 401

        response = await client.post(
            "/call/scale",
            content=encode({"x": JETS}, MSGPACK),
            headers={"content-type": MSGPACK, "accept": MSGPACK},
        )
        np.testing.assert_array_equal(decode(response.content, MSGPACK), JETS * 3)

        # SSE read chunk by chunk as the generator yields
        async with client.stream(
            "POST", "/call/count", json={"n": 5}, headers={"accept": SSE}
        ) as stream:
            assert stream.headers["content-type"].startswith(SSE)
            decoder = FrameDecoder(SSE)
            items = [item async for chunk in stream.aiter_raw() for item in decoder.feed(chunk)]
        assert items == [{"i": i} for i in range(5)] and decoder.done

        # A client that goes away mid-stream frees the slot and closes the generator.
        async with client.stream("POST", "/call/ticks", headers={"accept": MSGPACK}) as stream:
            decoder = FrameDecoder(MSGPACK)
            seen: list[Any] = []
            async for chunk in stream.aiter_raw():
                seen += decoder.feed(chunk)
                if len(seen) >= 3:
                    break
        assert seen[:3] == [0, 1, 2]

        async def released() -> bool:
            return (await client.get("/info")).json()["inflight"] == 0

        for _ in range(3000):
            if await released():
                break
            await asyncio.sleep(0.02)
        assert await released()
        assert (await client.post("/call/whoami")).json() == {"closed": True, "ready": True}

    assert await asyncio.to_thread(proc.terminate) == 0

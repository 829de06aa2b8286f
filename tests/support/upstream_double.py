"""TEST DOUBLE of a paid OpenAI-compatible provider (the one boundary tests cannot reach).

It speaks the provider's wire format for /v1/chat/completions (stream and not,
with `stream_options.include_usage`) and /v1/embeddings, checks the bearer key, and records
the last request so tests can see what the gateway sent. Run: python upstream_double.py PORT KEY

A model name containing `crlf` streams as sse-starlette does by default: events end with CRLF
(`\r\n\r\n`), and after the first content event the stream waits until `POST /_release`, so
a test can check that what was produced reached the caller before the stream went on.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

EXPECTED_KEY = ""
LAST: dict[str, Any] = {}
RELEASE = asyncio.Event()


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        status_code=401,
    )


def _authorized(request: Request) -> bool:
    return request.headers.get("authorization") == f"Bearer {EXPECTED_KEY}"


async def chat(request: Request) -> Response:
    if not _authorized(request):
        return _unauthorized()
    body = orjson.loads(await request.body())
    LAST["chat"] = body
    words = ["upstream", "says:", *str(body["messages"][-1]["content"]).split()]
    usage = {"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}
    base = {
        "id": "chatcmpl-double",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "double",
    }
    if not body.get("stream"):
        return JSONResponse(
            {
                **base,
                "object": "chat.completion",
                "usage": usage,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "message": {"role": "assistant", "content": " ".join(words)},
                    }
                ],
            }
        )
    include_usage = (body.get("stream_options") or {}).get("include_usage")
    crlf = "crlf" in body["model"]
    if crlf:
        RELEASE.clear()

    async def lf_events():  # type: ignore[no-untyped-def]
        chunk = {**base, "object": "chat.completion.chunk"}
        if include_usage:
            chunk["usage"] = None
        for i, w in enumerate(words):
            delta = {"content": w if i == 0 else " " + w}
            if i == 0:
                delta["role"] = "assistant"
            yield (
                b"data: "
                + orjson.dumps(
                    {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                )
                + b"\n\n"
            )
        yield (
            b"data: "
            + orjson.dumps(
                {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            )
            + b"\n\n"
        )
        if include_usage:
            yield b"data: " + orjson.dumps({**chunk, "choices": [], "usage": usage}) + b"\n\n"
        yield b"data: [DONE]\n\n"

    async def crlf_events():  # type: ignore[no-untyped-def]
        first = True
        async for event in lf_events():
            yield event.replace(b"\n", b"\r\n")
            if first:
                first = False
                await asyncio.wait_for(RELEASE.wait(), 60)

    events = crlf_events() if crlf else lf_events()
    return StreamingResponse(events, media_type="text/event-stream")


async def last(_request: Request) -> Response:
    return JSONResponse(LAST)


async def release(_request: Request) -> Response:
    RELEASE.set()
    return JSONResponse({"released": True})


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/_last", last),
        Route("/_release", release, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    EXPECTED_KEY = sys.argv[2]
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")

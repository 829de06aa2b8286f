"""The model the gateway benchmark's worker hosts: as cheap as a model can be.

Every method answers at once, so what the benchmark measures is the cost of moving calls
through HTTP (the worker runtime, and the gateway in front of it), not the model. The methods
are `async` on purpose: a synchronous method or generator step would run in the worker's
thread pool, which costs the worker (not the gateway) tens of microseconds per call and only
adds noise to a gateway measurement.

Served with `hai worker bench/bench_models.py:Bench` (bench/gateway.py starts it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from hakutaku.workers import RemoteModel, remote

STREAM_CHUNKS = 50


class Bench(RemoteModel):
    """Benchmark model: answers immediately with small, fixed payloads."""

    name = "bench"
    description = "gateway benchmark model (instant answers)"
    # Above the benchmark's highest concurrency, so the worker never answers 429.
    max_inflight = 128

    @remote
    async def echo(self, x: Any = None) -> dict[str, Any]:
        """A small dict back at once."""
        return {"x": x, "ok": True}

    @remote
    async def wait(self, seconds: float = 0.2) -> bool:
        """Answer after `seconds` (without using a CPU): a call that stays in flight, for the
        deployment benchmark's load step."""
        await asyncio.sleep(min(float(seconds), 10.0))
        return True

    @remote
    async def chunks(self, n: int = STREAM_CHUNKS) -> AsyncIterator[dict[str, Any]]:
        """`n` small dicts, streamed as fast as they can be sent."""
        for i in range(n):
            yield {"i": i, "text": "token"}

    @remote
    async def chat_completions(self, request: dict[str, Any]) -> Any:
        """A fixed chat.completion, or (with `stream`) 50 chat.completion.chunk dicts."""
        base = {"id": "chatcmpl-bench", "created": int(time.time()), "model": request["model"]}
        usage = {"prompt_tokens": 5, "completion_tokens": STREAM_CHUNKS, "total_tokens": 55}
        if not request.get("stream"):
            return {
                **base,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "ok"},
                    }
                ],
                "usage": usage,
            }
        options = request.get("stream_options") or {}
        return _chat_chunks(base, usage if options.get("include_usage") else None)


async def _chat_chunks(base: dict[str, Any], usage: dict | None) -> AsyncIterator[dict]:
    chunk = {**base, "object": "chat.completion.chunk"}
    for i in range(STREAM_CHUNKS):
        last = i == STREAM_CHUNKS - 1
        yield {
            **chunk,
            "choices": [
                {
                    "index": 0,
                    "delta": {} if last else {"content": " tok"},
                    "finish_reason": "stop" if last else None,
                }
            ],
        }
    if usage is not None:
        yield {**chunk, "choices": [], "usage": usage}

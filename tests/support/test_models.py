"""Models hosted by workers in the integration tests (real workers, real HTTP)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np

from hakutaku.workers import RemoteModel, remote


class Lab(RemoteModel):
    """A small model with one method of each kind, for gateway and worker tests."""

    name = "lab"
    description = "integration-test model"
    max_inflight = 4

    @remote
    def add(self, a: float, b: float) -> float:
        return a + b

    @remote
    def whoami(self) -> int:
        """The worker's process id, to see which worker served a call."""
        return os.getpid()

    @remote
    def stats(self, x: np.ndarray) -> dict[str, Any]:
        """Per-feature sums and the doubled array, to check numpy in and out."""
        return {
            "sum": x.sum(axis=(0, 1)),
            "doubled": x * 2,
            "dtype": str(x.dtype),
            "shape": x.shape,
        }

    @remote
    def count(self, n: int) -> Iterator[dict[str, int]]:
        for i in range(n):
            yield {"i": i, "square": i * i}

    @remote
    async def acount(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    @remote
    def sleep(self, seconds: float) -> int:
        time.sleep(seconds)
        return os.getpid()

    @remote
    def drip(self, n: int, delay: float) -> Iterator[int]:
        """A slow stream, to see what a caller hanging up does."""
        for i in range(n):
            time.sleep(delay)
            yield i

    @remote
    def fail(self, message: str = "boom") -> None:
        raise RuntimeError(message)

    @remote
    def chat_completions(self, request: dict[str, Any]) -> Any:
        """A deterministic chat model: it answers with the last user message reversed."""
        text = str(request["messages"][-1].get("content", ""))[::-1]
        words = text.split() or [""]
        usage = {
            "prompt_tokens": len(str(request["messages"]).split()),
            "completion_tokens": len(words),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": "chatcmpl-lab", "created": int(time.time()), "model": request["model"]}
        if not request.get("stream"):
            return {
                **base,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": usage,
            }
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        return self._chunks(base, words, usage if include_usage else None)

    @staticmethod
    def _chunks(base: dict, words: list[str], usage: dict | None) -> Iterator[dict]:
        chunk = {**base, "object": "chat.completion.chunk"}
        yield {
            **chunk,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        }
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            yield {
                **chunk,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
        yield {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        if usage is not None:
            yield {**chunk, "choices": [], "usage": usage}

"""Pass a worker's or upstream's stream to the client chunk by chunk, and tap SSE usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from hakutaku import codec


class ProxyStream:
    """A minimal ASGI streaming response (lighter than Starlette's on the hot path).

    It watches for the client hanging up: then `on_disconnect` runs (the relay closes its
    connection to the worker, which stops the generator there and frees its slot) and
    `client_gone` tells the relay not to blame the worker for the broken stream.
    """

    def __init__(
        self,
        status: int,
        media_type: str,
        chunks: AsyncIterator[bytes],
        request_id: str = "",
        on_disconnect: Callable[[], None] | None = None,
    ) -> None:
        self.status = status
        self.media_type = media_type
        self.chunks = chunks
        self.request_id = request_id
        self.on_disconnect = on_disconnect
        self.client_gone = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", self.media_type.encode()),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),  # proxies must not hold chunks back
                    (b"x-hai-stream", b"1"),
                    (b"x-request-id", self.request_id.encode()),
                ],
            }
        )
        watcher = asyncio.ensure_future(self._watch(receive))
        try:
            async for chunk in self.chunks:
                if self.client_gone:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not self.client_gone:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.client_gone = True
        if self.on_disconnect is not None:
            self.on_disconnect()


class SSEUsageTap:
    """Reads token usage out of an OpenAI chat stream as it passes through.

    Events are passed on as soon as they are whole (`codec.SSESplitter`: LF, CRLF or CR line
    ends), byte for byte. When the gateway asked for usage on the caller's behalf
    (`strip_usage_only`), the usage-only final event the caller did not ask for is removed.
    """

    def __init__(self, strip_usage_only: bool) -> None:
        self.strip_usage_only = strip_usage_only
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._splitter = codec.SSESplitter()

    def feed(self, chunk: bytes) -> bytes:
        complete = self._splitter.feed(chunk)
        if b'"usage"' not in complete:
            return complete
        return b"".join(self._inspect(event) for event in codec.sse_events(complete))

    def close(self) -> bytes:
        return self._splitter.close()

    def _inspect(self, event: bytes) -> bytes:
        if b'"usage"' not in event:
            return event
        payload = codec.sse_data(event)
        try:
            obj: Any = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            return event
        usage = obj.get("usage") if isinstance(obj, dict) else None
        if not isinstance(usage, dict):
            return event
        self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        self.completion_tokens = int(usage.get("completion_tokens") or 0)
        if self.strip_usage_only and not obj.get("choices"):
            return b""
        return event

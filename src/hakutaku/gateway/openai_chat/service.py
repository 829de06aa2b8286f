"""Serve chat completions from an upstream or from a worker's `chat_completions` method."""

from __future__ import annotations

from starlette.responses import Response

from hakutaku import codec
from hakutaku.gateway.context import Call, Gateway
from hakutaku.gateway.forward import call_worker
from hakutaku.gateway.openai_chat.protocol import ChatRequest
from hakutaku.gateway.registry import ModelEntry
from hakutaku.gateway.streaming import ProxyStream, SSEUsageTap
from hakutaku.gateway.upstream import call_upstream

METHOD = "chat_completions"


async def complete(
    gw: Gateway, call: Call, entry: ModelEntry, request: ChatRequest
) -> Response | ProxyStream:
    body = request.body
    tap = None
    if request.stream:
        # Ask for usage so it can be metered; the caller only sees it if they asked too.
        tap = SSEUsageTap(strip_usage_only=not request.include_usage)
        body = {
            **body,
            "stream_options": {**(body.get("stream_options") or {}), "include_usage": True},
        }
    if entry.kind == "upstream":
        return await call_upstream(gw, call, entry, "chat/completions", body, tap)
    accept = codec.SSE if request.stream else codec.JSON
    return await call_worker(
        gw, call, codec.encode({"request": body}, codec.JSON), codec.JSON, accept, tap
    )

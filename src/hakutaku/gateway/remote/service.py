"""Calls to hosted models' own methods: `POST /v1/models/{model}/{method}`.

The body goes to the worker untouched (JSON or msgpack, chosen by Content-Type); the
gateway never decodes it, so large numpy payloads cost it only a copy.
"""

from __future__ import annotations

from starlette.responses import Response

from hakutaku import codec
from hakutaku.gateway.context import Call, Gateway
from hakutaku.gateway.errors import GatewayError
from hakutaku.gateway.forward import call_worker
from hakutaku.gateway.registry import ModelEntry
from hakutaku.gateway.streaming import ProxyStream


async def call_remote(
    gw: Gateway,
    call: Call,
    entry: ModelEntry,
    body: bytes,
    content_type: str | None,
    accept: str | None,
) -> Response | ProxyStream:
    if entry.kind != "worker":
        raise GatewayError(
            404,
            f"The model '{entry.name}' is an upstream chat model; it has no remote methods. "
            "Call it with POST /v1/chat/completions.",
            type="not_found_error",
            code="method_not_found",
        )
    media = codec.media_type(content_type)
    return await call_worker(gw, call, body, media, accept or media)

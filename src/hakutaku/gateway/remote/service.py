"""Calls to hosted models' own methods: `POST /v1/models/{model}/{method}`.

The body goes to the worker untouched (JSON or msgpack, chosen by Content-Type); the
gateway never decodes it, so large numpy payloads cost it only a copy.
"""

from __future__ import annotations

from starlette.responses import Response

from hakutaku import codec
from hakutaku.gateway.access import permitted_model
from hakutaku.gateway.context import Call, Gateway
from hakutaku.gateway.errors import GatewayError, unknown_method
from hakutaku.gateway.forward import call_worker
from hakutaku.gateway.streaming import ProxyStream


async def call_remote(
    gw: Gateway, call: Call, body: bytes, content_type: str | None, accept: str | None
) -> Response | ProxyStream:
    entry = permitted_model(gw, call.who, call.model)
    if entry.kind != "worker":
        raise GatewayError(
            404,
            f"The model '{call.model}' is an upstream chat model; it has no remote methods. "
            "Call it with POST /v1/chat/completions.",
            type="not_found_error",
            code="method_not_found",
        )
    methods = gw.registry.methods(call.model)
    if methods and call.method not in methods:
        raise unknown_method(call.model, call.method, list(methods))
    media = codec.media_type(content_type)
    return await call_worker(gw, call, body, media, accept or media)

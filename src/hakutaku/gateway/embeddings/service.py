"""Serve embeddings from an upstream or from a worker's `embeddings` method."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from hakutaku import codec
from hakutaku.gateway.context import Call, Gateway
from hakutaku.gateway.errors import GatewayError
from hakutaku.gateway.forward import call_worker
from hakutaku.gateway.registry import ModelEntry
from hakutaku.gateway.streaming import ProxyStream
from hakutaku.gateway.upstream import call_upstream

METHOD = "embeddings"


def check_input(body: dict[str, Any]) -> None:
    value = body.get("input")
    if isinstance(value, str) and value:
        return
    if isinstance(value, list) and value:
        return
    raise GatewayError(
        400,
        "'input' is required: a non-empty string or a non-empty array of strings.",
        code="invalid_input",
        param="input",
    )


async def embed(
    gw: Gateway, call: Call, entry: ModelEntry, body: dict[str, Any], raw: bytes
) -> Response | ProxyStream:
    if entry.kind == "upstream":
        return await call_upstream(gw, call, entry, "embeddings", body)
    # The raw body is already valid JSON: wrap it without re-encoding the (possibly long) input.
    return await call_worker(gw, call, b'{"request":' + raw + b"}", codec.JSON, codec.JSON)

"""HTTP for `POST /v1/embeddings`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp

from hakutaku.gateway.body import parse_json_object, required_model
from hakutaku.gateway.context import Gateway
from hakutaku.gateway.embeddings.service import METHOD, check_input, embed
from hakutaku.gateway.handler import Parsed, handle_call


def _parse(_gw: Gateway, _request: Request, raw: bytes) -> Parsed:
    body = parse_json_object(raw, "embeddings")
    model = required_model(body)
    check_input(body)
    return Parsed(model, METHOD, lambda gw, call, entry: embed(gw, call, entry, body, raw))


async def embeddings(request: Request) -> ASGIApp:
    return await handle_call(request, "embeddings", _parse)

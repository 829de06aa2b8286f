"""GET /v1/models and GET /v1/models/{model}: what the caller's key may use."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hakutaku.errors import PlatformError
from hakutaku.gateway.access import permitted_model
from hakutaku.gateway.errors import error_response
from hakutaku.gateway.http import authenticate, gateway_of
from hakutaku.gateway.registry import ModelEntry, Registry


def model_object(entry: ModelEntry, registry: Registry) -> dict:
    obj: dict = {
        "id": entry.name,
        "object": "model",
        "created": entry.created,
        "owned_by": "hakutaku" if entry.kind == "worker" else "upstream",
        "kind": entry.kind,
        "description": entry.description,
    }
    if entry.kind == "worker":
        obj["methods"] = registry.methods(entry.name)
        obj["workers"] = len(registry.workers(entry.name))
    return obj


async def list_models(request: Request) -> Response:
    gw = gateway_of(request)
    try:
        who = await authenticate(gw, request)
    except PlatformError as exc:
        return error_response(exc)
    data = [model_object(m, gw.registry) for m in gw.registry.visible_models(who)]
    data.sort(key=lambda m: m["id"])
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")


async def get_model(request: Request) -> Response:
    gw = gateway_of(request)
    try:
        who = await authenticate(gw, request)
        entry = permitted_model(gw, who, request.path_params["path"])
    except PlatformError as exc:
        return error_response(exc)
    return Response(orjson.dumps(model_object(entry, gw.registry)), media_type="application/json")

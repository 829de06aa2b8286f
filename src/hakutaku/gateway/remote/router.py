"""HTTP for remote models: `POST /v1/models/{model}/{method}`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp

from hakutaku.gateway.handler import Parsed, handle_call
from hakutaku.gateway.remote.service import call_remote


def _parse(request: Request, body: bytes) -> Parsed:
    content_type = request.headers.get("content-type")
    accept = request.headers.get("accept")
    return Parsed(
        request.path_params["model"],
        request.path_params["method"],
        lambda gw, call: call_remote(gw, call, body, content_type, accept),
    )


async def remote_call(request: Request) -> ASGIApp:
    return await handle_call(request, "remote", _parse)


routes = [Route("/v1/models/{model}/{method}", remote_call, methods=["POST"])]

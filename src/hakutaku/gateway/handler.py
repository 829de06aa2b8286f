"""The one request skeleton every /v1 call endpoint shares.

Check the key and its rate limit, read the bounded body, let the endpoint parse it into
(model, method, serve), run it, and meter the outcome exactly once — here for whole
responses, at the end of the stream for streams.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from hakutaku.errors import PlatformError
from hakutaku.gateway.context import Call, Gateway
from hakutaku.gateway.errors import error_response, rate_limited
from hakutaku.gateway.http import authenticate, gateway_of, new_request_id, read_body
from hakutaku.gateway.streaming import ProxyStream

Serve = Callable[[Gateway, Call], Awaitable[Response | ProxyStream]]


@dataclass(slots=True)
class Parsed:
    model: str
    method: str
    serve: Serve


async def handle_call(
    request: Request, endpoint: str, parse: Callable[[Request, bytes], Parsed]
) -> ASGIApp:
    started = time.perf_counter()
    gw = gateway_of(request)
    try:
        who = await authenticate(gw, request)
        limit = who.rate_limit or gw.settings.rate_limit
        if limit and (wait := gw.limiter.take(who.key_id, limit)):
            raise rate_limited(limit, wait)
        parsed = parse(request, await read_body(request, gw.settings.max_body_bytes))
    except PlatformError as exc:
        model = request.path_params.get("model", "-")
        gw.metrics.observe(model, endpoint, exc.status, time.perf_counter() - started, exc.code)
        return error_response(exc)
    call = Call(who, parsed.model, parsed.method, endpoint, new_request_id(), started)
    try:
        response = await parsed.serve(gw, call)
    except PlatformError as exc:
        gw.finish(call, exc.status, exc.code)
        return error_response(exc)
    if not isinstance(response, ProxyStream):
        status = response.status_code
        gw.finish(call, status, None if status < 400 else _error_code(response.body))
    return response


def _error_code(body: bytes) -> str:
    """The `code` of a relayed error body (errors are rare: parsing them costs nothing)."""
    try:
        code = orjson.loads(body)["error"]["code"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "error"
    return str(code) if code else "error"

"""The one request skeleton every /v1 call endpoint shares.

Check the key and its rate limit, read the bounded body, let the endpoint parse it into
(model, method, serve), resolve the model against the registry, run it, and meter the outcome
exactly once — here for whole responses, at the end of the stream for streams.

Metrics and usage carry only names the registry resolved: a model or method the caller made
up is metered as `UNKNOWN`, and a request refused before its model resolved (no key, bad body,
unknown model) is counted in metrics under that one label and writes no usage row, so no
caller can grow the label sets or the usage table with names of their choosing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from hakutaku.errors import PlatformError
from hakutaku.gateway.access import permitted_model, resolve_method
from hakutaku.gateway.context import UNKNOWN, Call, Gateway
from hakutaku.gateway.errors import error_response, rate_limited
from hakutaku.gateway.http import authenticate, gateway_of, new_request_id, read_body
from hakutaku.gateway.registry import ModelEntry
from hakutaku.gateway.streaming import ProxyStream

Serve = Callable[[Gateway, Call, ModelEntry], Awaitable[Response | ProxyStream]]

# A relayed error code becomes a metrics label: only codes shaped like the platform's own.
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(slots=True)
class Parsed:
    model: str  # as the caller wrote it; checked against the registry before any use
    method: str
    serve: Serve


async def handle_call(
    request: Request, endpoint: str, parse: Callable[[Gateway, Request, bytes], Parsed]
) -> ASGIApp:
    started = time.perf_counter()
    gw = gateway_of(request)
    try:
        who = await authenticate(gw, request)
        limit = who.rate_limit or gw.settings.rate_limit
        if limit and (wait := gw.limiter.take(who.key_id or -(who.session_id or 0), limit)):
            raise rate_limited(limit, wait)
        parsed = parse(gw, request, await read_body(request, gw.settings.max_body_bytes))
        entry = permitted_model(gw, who, parsed.model)
    except PlatformError as exc:
        gw.metrics.observe(UNKNOWN, endpoint, exc.status, time.perf_counter() - started, exc.code)
        return error_response(exc)
    call = Call(who, entry.name, UNKNOWN, endpoint, new_request_id(), started)
    try:
        call.method = resolve_method(gw, entry, parsed.method)
        response = await parsed.serve(gw, call, entry)
    except PlatformError as exc:
        gw.finish(call, exc.status, exc.code)
        return error_response(exc)
    if not isinstance(response, ProxyStream):
        status = response.status_code
        gw.finish(call, status, None if status < 400 else _error_code(bytes(response.body)))
    return response


def _error_code(body: bytes) -> str:
    """The `code` of a relayed error body (errors are rare: parsing them costs nothing)."""
    try:
        code = orjson.loads(body)["error"]["code"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "error"
    return code if isinstance(code, str) and _CODE_RE.match(code) else "error"

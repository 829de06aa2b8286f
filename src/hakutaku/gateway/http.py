"""Request-path helpers shared by the /v1 routers: key check, bounded body, request ids."""

from __future__ import annotations

import asyncio
import os

from starlette.requests import Request

from hakutaku.errors import Unauthorized
from hakutaku.gateway.context import Gateway
from hakutaku.gateway.errors import GatewayError
from hakutaku.identity.auth import Principal
from hakutaku.identity.sessions import SESSION_COOKIE


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.replica.gateway
    return gateway


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


def bearer_key(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized(
            "You didn't provide an API key. Send it as 'Authorization: Bearer hai-...' "
            "(create one with `hai keys create USER`).",
            code="missing_api_key",
        )
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized(
            "Malformed Authorization header: expected 'Authorization: Bearer hai-...'.",
        )
    return key


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def authenticate(gw: Gateway, request: Request) -> Principal:
    """The caller: an API key (Authorization: Bearer), or a portal page's session cookie."""
    if "authorization" not in request.headers and (token := request.cookies.get(SESSION_COOKIE)):
        csrf = request.headers.get("x-csrf-token")
        unsafe = request.method in UNSAFE_METHODS
        return await asyncio.to_thread(gw.auth.session, token, csrf, unsafe)
    key = bearer_key(request)
    principal = gw.auth.cached(key)
    if principal is None:
        principal = await asyncio.to_thread(gw.auth.lookup, key)
    return principal


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(size, limit)
        parts.append(chunk)
    return b"".join(parts)


def too_large(size: int, limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"Request body of {size} bytes is over this server's limit of {limit} bytes "
        "(HAI_MAX_BODY_BYTES). Send the input in smaller batches.",
        code="request_too_large",
    )

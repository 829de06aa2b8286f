"""Proxy to an OpenAI-compatible upstream (vLLM, Ollama, a provider) registered by URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from starlette.responses import Response

from hakutaku import codec
from hakutaku.gateway.context import Call, Gateway
from hakutaku.gateway.errors import GatewayError, upstream_failed
from hakutaku.gateway.registry import ModelEntry
from hakutaku.gateway.streaming import ProxyStream, SSEUsageTap


async def call_upstream(
    gw: Gateway,
    call: Call,
    entry: ModelEntry,
    path: str,
    body: dict[str, Any],
    tap: SSEUsageTap | None = None,
) -> Response | ProxyStream:
    """POST `body` to `{base_url}/{path}` with the model name the upstream knows."""
    assert entry.upstream_base_url is not None
    base = entry.upstream_base_url.rstrip("/")
    body = {**body, "model": entry.upstream_model or entry.name}
    headers = {"content-type": codec.JSON, "accept": "application/json, text/event-stream"}
    if entry.upstream_api_key:
        headers["authorization"] = f"Bearer {entry.upstream_api_key}"
    session = gw.session_for(base)
    timeout = gw.settings.upstream_timeout
    try:
        response = await session.post(
            f"{base}/{path}",
            data=orjson.dumps(body),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout),
        )
    except TimeoutError as exc:
        raise _timeout(call.model, timeout) from exc
    except aiohttp.ClientError as exc:
        raise upstream_failed(call.model, type(exc).__name__) from exc
    if response.status >= 400:
        raise await _upstream_error(call.model, response)
    if tap is not None and response.headers.get("content-type", "").startswith(codec.SSE):
        return _relay_stream(gw, call, response, tap)
    try:
        content = await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise upstream_failed(call.model, type(exc).__name__) from exc
    finally:
        response.release()
    _capture_usage(call, content)
    return Response(
        content,
        status_code=response.status,
        media_type=response.headers.get("content-type", codec.JSON),
        headers={"x-request-id": call.request_id},
    )


def _capture_usage(call: Call, content: bytes) -> None:
    try:
        usage = orjson.loads(content).get("usage")
    except (orjson.JSONDecodeError, AttributeError):
        return
    if isinstance(usage, dict):
        call.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        call.completion_tokens = int(usage.get("completion_tokens") or 0)


def _relay_stream(
    gw: Gateway, call: Call, response: aiohttp.ClientResponse, tap: SSEUsageTap
) -> ProxyStream:
    async def chunks() -> AsyncIterator[bytes]:
        status, code = 200, None
        try:
            async for chunk in response.content.iter_any():
                if out := tap.feed(chunk):
                    yield out
            if rest := tap.close():
                yield rest
        except (aiohttp.ClientError, TimeoutError) as exc:
            if stream.client_gone:
                status, code = 499, "client_closed"
            else:
                failure = (
                    _timeout(call.model, gw.settings.upstream_timeout)
                    if isinstance(exc, TimeoutError)
                    else upstream_failed(call.model, type(exc).__name__)
                )
                status, code = failure.status, failure.code
                yield failure.frame(codec.SSE)
        finally:
            if stream.client_gone and status == 200:
                status, code = 499, "client_closed"
            response.close()
            call.prompt_tokens, call.completion_tokens = tap.prompt_tokens, tap.completion_tokens
            gw.finish(call, status, code)

    stream = ProxyStream(200, codec.SSE, chunks(), call.request_id, on_disconnect=response.close)
    return stream


async def _upstream_error(model: str, response: aiohttp.ClientResponse) -> GatewayError:
    try:
        detail = await response.read()
    except aiohttp.ClientError:
        detail = b""
    finally:
        response.release()
    message = ""
    try:
        err = orjson.loads(detail).get("error")
        message = err.get("message", "") if isinstance(err, dict) else str(err or "")
    except (orjson.JSONDecodeError, AttributeError):
        message = detail[:300].decode(errors="replace")
    if response.status in (401, 403):
        return GatewayError(
            502,
            f"The upstream provider of '{model}' rejected the platform's credentials. An "
            "operator must update its key (`hai models add-upstream ... --api-key`).",
            type="server_error",
            code="upstream_auth_failed",
        )
    status = response.status if response.status in (400, 404, 413, 422, 429) else 502
    return GatewayError(
        status,
        f"The upstream provider of '{model}' answered {response.status}: {message}",
        type="rate_limit_error"
        if status == 429
        else "invalid_request_error"
        if status < 500
        else "server_error",
        code="upstream_error",
    )


def _timeout(model: str, seconds: float) -> GatewayError:
    return GatewayError(
        504,
        f"The upstream provider of '{model}' did not answer within {seconds:g} s. Retry later.",
        type="server_error",
        code="upstream_timeout",
    )

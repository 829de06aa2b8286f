"""Forward one call to the least-loaded healthy worker of a model and relay its answer.

A worker that refuses the connection never saw the call, so the call moves to another worker.
A worker that fails after taking the call (killed, reset) gives the caller 502 and is not used
again by this replica until it beats again. Streams pass through chunk by chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import Response

from hakutaku import codec
from hakutaku.gateway.coldstart import wait_for_replica
from hakutaku.gateway.context import Call, Gateway
from hakutaku.gateway.errors import (
    GatewayError,
    no_worker,
    overloaded,
    unknown_method,
    worker_failed,
    worker_timeout,
)
from hakutaku.gateway.registry import WorkerEntry
from hakutaku.gateway.streaming import ProxyStream, SSEUsageTap
from hakutaku.gateway.workerclient import ConnectError, WorkerIOError, WorkerResponse

MAX_CONNECT_ATTEMPTS = 3
RELAYED_HEADERS = ("content-type", "x-hai-usage")


async def call_worker(
    gw: Gateway,
    call: Call,
    body: bytes,
    content_type: str,
    accept: str,
    tap: SSEUsageTap | None = None,
) -> Response | ProxyStream:
    """Send `body` to `/call/{call.method}` on a worker of `call.model`; return the response."""
    tried: set[str] = set()
    woke = False
    for _ in range(MAX_CONNECT_ATTEMPTS):
        worker, busy = gw.registry.pick(call.model, call.method, tried)
        if worker is None and not busy and not woke and call.model in gw.registry.snapshot.deployed:
            # A deployment with no replica up (scaled to zero, or all replaced at once).
            await wait_for_replica(gw, call.model, tried)
            woke = True
            worker, busy = gw.registry.pick(call.model, call.method, tried)
            offered = gw.registry.methods(call.model)
            if worker is None and offered and call.method not in offered:
                raise unknown_method(call.model, call.method, list(offered))
        if worker is None:
            raise overloaded(call.model) if busy else no_worker(call.model)
        tried.add(worker.id)
        worker.inflight += 1
        try:
            response = await _post(gw, worker, call, body, content_type, accept)
        except ConnectError:
            worker.inflight -= 1
            gw.registry.mark_dead(worker)  # refused before it saw the call: try another
            continue
        except BaseException:
            worker.inflight -= 1
            raise
        if response.headers.get("x-hai-stream") == "1" and response.status == 200:
            return _relay_stream(gw, call, worker, response, tap)
        try:
            return await _relay_whole(gw, call, worker, response)
        finally:
            worker.inflight -= 1
    raise no_worker(call.model)


async def _post(
    gw: Gateway,
    worker: WorkerEntry,
    call: Call,
    body: bytes,
    content_type: str,
    accept: str,
) -> WorkerResponse:
    pool = gw.pool_for(worker.url, worker.max_inflight + 8, worker.call_token)
    timeout = gw.settings.worker_timeout
    try:
        return await pool.post(
            "/call/" + call.method,
            body,
            [
                ("content-type", content_type),
                ("accept", accept),
                ("x-hai-request-id", call.request_id),
                ("x-hai-user", call.who.user),
            ],
            timeout,
        )
    except TimeoutError as exc:
        raise worker_timeout(call.model, timeout) from exc
    except WorkerIOError as exc:
        gw.registry.mark_dead(worker)
        raise worker_failed(call.model, _describe(exc)) from exc


async def _relay_whole(
    gw: Gateway, call: Call, worker: WorkerEntry, response: WorkerResponse
) -> Response:
    try:
        content = await response.read()
    except TimeoutError as exc:
        raise worker_timeout(call.model, gw.settings.worker_timeout) from exc
    except WorkerIOError as exc:
        gw.registry.mark_dead(worker)
        raise worker_failed(call.model, _describe(exc)) from exc
    finally:
        response.release()
    if response.status == 401:
        # The worker does not accept this server's worker token: an operator problem.
        raise GatewayError(
            502,
            f"The worker serving '{call.model}' rejected the platform's worker token; "
            "an operator must restart it with this server's token.",
            type="server_error",
            code="worker_misconfigured",
        )
    usage = response.headers.get("x-hai-usage")
    if usage:
        prompt, _, completion = usage.partition(",")
        call.prompt_tokens = int(prompt or 0)
        call.completion_tokens = int(completion or 0)
    headers = {k: v for k in RELAYED_HEADERS if (v := response.headers.get(k)) is not None}
    headers["x-request-id"] = call.request_id
    return Response(content, status_code=response.status, headers=headers)


def _relay_stream(
    gw: Gateway,
    call: Call,
    worker: WorkerEntry,
    response: WorkerResponse,
    tap: SSEUsageTap | None,
) -> ProxyStream:
    media = response.headers.get("content-type", codec.NDJSON)

    async def chunks() -> AsyncIterator[bytes]:
        status, code = 200, None
        try:
            while chunk := await response.chunk():
                out = tap.feed(chunk) if tap is not None else chunk
                if out:
                    yield out
            if tap is not None and (rest := tap.close()):
                yield rest
        except (WorkerIOError, TimeoutError) as exc:
            if stream.client_gone:
                status, code = 499, "client_closed"  # nginx's code for a caller who left
            elif isinstance(exc, TimeoutError):
                status, code = 504, "worker_timeout"
                yield worker_timeout(call.model, gw.settings.worker_timeout).frame(media)
            else:
                gw.registry.mark_dead(worker)
                status, code = 502, "worker_failed"
                yield worker_failed(call.model, _describe(exc)).frame(media)
        finally:
            if stream.client_gone and status == 200:
                status, code = 499, "client_closed"
            worker.inflight -= 1
            response.close()
            if tap is not None:
                call.prompt_tokens, call.completion_tokens = (
                    tap.prompt_tokens,
                    tap.completion_tokens,
                )
            gw.finish(call, status, code)

    stream = ProxyStream(200, media, chunks(), call.request_id, on_disconnect=response.close)
    return stream


def _describe(exc: BaseException) -> str:
    if isinstance(exc, WorkerIOError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

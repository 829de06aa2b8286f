"""The worker's HTTP app: serve one object's `@remote` methods.

The wire protocol is docs/internals/worker-protocol.md. The per-call path is plain Starlette
with no validation framework: check the token, look the method up, admit it under the
in-flight limit, decode the body, check the argument names against the signature
(precomputed), call, encode. Synchronous code (plain methods, and a synchronous generator
for the whole of its stream) runs in worker threads so that one slow method never stalls
the event loop and the other calls on it. A stream sends every frame its generator has
already produced in one write (`_Feed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hakutaku.codec import (
    JSON,
    MSGPACK,
    NDJSON,
    SSE,
    SSE_DONE,
    CodecError,
    EncodeError,
    accept_media,
    decode,
    encode,
    encode_frame,
    media_type,
)
from hakutaku.errors import error_body, error_frame
from hakutaku.workers.remote import MethodInfo, remote_methods

log = logging.getLogger("hakutaku.worker")

_END = object()  # what a generator step returns when the generator is exhausted

# ---------------------------------------------------------------------------- errors


def _error(status: int, message: str, type_: str, code: str, param: str | None = None) -> Response:
    return Response(error_body(message, type_, code, param), status, media_type=JSON)


def _invalid(message: str, code: str, param: str | None = None) -> Response:
    return _error(400, message, "invalid_request_error", code, param)


def _is_bad_input(exc: BaseException) -> bool:
    return isinstance(exc, ValueError) and not isinstance(exc, CodecError)


def _model_error_message(model: str, method: str, exc: BaseException) -> str:
    return f"{model}.{method} raised {type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class _Binding:
    """Which keyword arguments a method takes, computed once so each call checks cheaply."""

    accepted: frozenset[str] | None  # None: the method takes **kwargs
    required: frozenset[str]
    names: tuple[str, ...]

    @classmethod
    def of(cls, func: Callable[..., Any]) -> _Binding:
        params = inspect.signature(func).parameters.values()
        keyword = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        # Positional-only parameters cannot be passed by name; without a default they
        # make the method uncallable over the wire, which the "missing" message says.
        required = [
            p.name
            for p in params
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
        names = tuple(p.name for p in keyword)
        return cls(None if takes_any else frozenset(names), frozenset(required), names)

    def problem(self, kwargs: dict[Any, Any]) -> tuple[str, str | None] | None:
        """(message, param) when `kwargs` do not bind, else None."""
        for key in kwargs:
            if type(key) is not str:
                return f"argument names must be strings, got {key!r}", None
        if self.accepted is not None:
            extra = [k for k in kwargs if k not in self.accepted]
            if extra:
                takes = ", ".join(self.names) or "no arguments"
                return f"unexpected argument {extra[0]!r} (it takes: {takes})", extra[0]
        missing = [k for k in self.required if k not in kwargs]
        if missing:
            missing.sort(key=lambda n: self.names.index(n) if n in self.names else -1)
            return f"missing required argument {missing[0]!r}", missing[0]
        return None


@dataclass(eq=False)
class WorkerState:
    """What the worker hosts and how busy it is (read by /info, /healthz and the heartbeat)."""

    model: str
    obj: object
    methods: dict[str, MethodInfo]
    description: str
    max_inflight: int
    inflight: int = 0
    served: int = 0
    bindings: dict[str, _Binding] = field(default_factory=dict)
    # Sized like the in-flight limit: every admitted call may hold one thread at a time.
    limiter: anyio.CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = anyio.CapacityLimiter(self.max_inflight)
        if not self.bindings:
            self.bindings = {name: _Binding.of(m.func) for name, m in self.methods.items()}

    def describe_methods(self) -> dict[str, Any]:
        return {name: m.describe() for name, m in self.methods.items()}

    def info(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "description": self.description,
            "methods": self.describe_methods(),
            "max_inflight": self.max_inflight,
            "inflight": self.inflight,
            "served": self.served,
        }

    def release(self) -> None:
        self.inflight -= 1
        self.served += 1


def describe(obj: object) -> str:
    """The object's `description`, else the first paragraph of its own class docstring."""
    text = getattr(obj, "description", None)
    if isinstance(text, str) and text:
        return text
    doc = type(obj).__doc__  # not inspect.getdoc: that would inherit RemoteModel's docstring
    return inspect.cleandoc(doc).split("\n\n", 1)[0] if doc else ""


# ---------------------------------------------------------------------------- auth


class _TokenAuth:
    """Pure ASGI check of `Authorization: Bearer <token>` on every HTTP request.

    Accepted: the call token the worker registered with (what the gateway sends) and the worker
    token it holds (so its operator can call it directly).
    """

    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self.app = app
        self.tokens = tuple(t.encode() for t in tokens)

    def _accepts(self, presented: bytes) -> bool:
        # Every token is compared, so the time taken does not tell which one nearly matched.
        return sum(hmac.compare_digest(presented, t) for t in self.tokens) > 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == b"authorization":
                    if value[:7].lower() == b"bearer " and self._accepts(value[7:].strip()):
                        await self.app(scope, receive, send)
                        return
                    break
            response = _error(
                401, "missing or wrong worker token", "authentication_error", "invalid_worker_token"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# ---------------------------------------------------------------------------- streaming


class _Failure:
    """How a stream's producer ended when the generator did not simply run out."""

    __slots__ = ("exc", "what")

    def __init__(self, exc: BaseException, what: str) -> None:
        self.exc = exc
        self.what = what  # "raised" or "yielded a value it cannot send"


_GONE = object()  # what the feed answers once the client has left

# A producer stops and waits while this many bytes of frames are not yet sent.
FEED_LIMIT = 256 * 1024
# An async generator that has kept the event loop this long since the response last waited
# lets it send what is there before producing more (one that never awaits would otherwise
# hold every frame back until the buffer fills).
_RUN_AHEAD = 0.001


class _Feed:
    """Frames from a stream's producer to its response, taken in batches.

    The producer (a thread for a synchronous generator, a task for an async one) encodes each
    item and appends its frame; the response takes every frame there is in one go and sends
    them in one write. A producer faster than the connection thus gives few large writes, and
    a slow one is sent item by item as each arrives (the response is woken at once).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = FEED_LIMIT) -> None:
        self.loop = loop
        self.limit = limit
        self.lock = threading.Lock()
        self.space = threading.Condition(self.lock)
        self.frames: list[bytes] = []
        self.size = 0
        self.end: object | None = None  # _END or a _Failure once the producer is done
        self.stopped = False  # the response gave up (client gone)
        self.waiter: asyncio.Future[None] | None = None  # the response, waiting for frames
        self.waited_at = 0.0
        self.space_waiter: asyncio.Future[None] | None = None  # an async producer, waiting

    # -- producer side --------------------------------------------------------------------

    def put_threaded(self, frame: bytes) -> bool:
        """From the producer thread; False once the response has stopped."""
        with self.lock:
            while self.size >= self.limit and not self.stopped:
                self.space.wait()
            if self.stopped:
                return False
            self.frames.append(frame)
            self.size += len(frame)
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self.loop.call_soon_threadsafe(_wake, waiter)
        return True

    async def put_async(self, frame: bytes) -> bool:
        """From a producer task on the event loop; False once the response has stopped."""
        while self.size >= self.limit and not self.stopped:
            self.space_waiter = self.loop.create_future()
            await self.space_waiter
        if self.stopped:
            return False
        with self.lock:
            self.frames.append(frame)
            self.size += len(frame)
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            _wake(waiter)
            if self.loop.time() - self.waited_at >= _RUN_AHEAD:
                await asyncio.sleep(0)  # let the response send this before producing more
        return True

    def finish(self, end: object) -> None:
        """The producer is done (its generator already closed); thread-safe."""
        with self.lock:
            self.end = end
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(_wake, waiter)

    # -- response side --------------------------------------------------------------------

    async def take(self) -> tuple[list[bytes], object | None]:
        """Every frame produced so far (waiting for one), and the end if the producer is done."""
        while True:
            with self.lock:
                if self.stopped:
                    return [], _GONE
                if self.frames or self.end is not None:
                    frames, self.frames = self.frames, []
                    self.size = 0
                    self.space.notify()
                    end = self.end
                    space, self.space_waiter = self.space_waiter, None
                    if space is not None:
                        _wake(space)
                    return frames, end
                waiter = self.waiter = self.loop.create_future()
                self.waited_at = self.loop.time()
            try:
                await waiter
            finally:
                self.waiter = None

    def stop(self) -> None:
        """The client left: the producer stops at its next frame and closes the generator."""
        with self.lock:
            self.stopped = True
            self.space.notify_all()
            waiters = (self.waiter, self.space_waiter)
            self.waiter = self.space_waiter = None
        for waiter in waiters:
            if waiter is not None:
                _wake(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _StreamResponse(Response):
    """Sends a stream's frames as the feed hands them over, and always cleans up: stops the
    producer (which closes the model's generator, so its `finally` runs) and frees the slot.
    """

    def __init__(
        self,
        first: tuple[list[bytes], object | None],
        media: str,
        headers: dict[str, str],
        feed: _Feed,
        ending: Callable[[object], Awaitable[bytes]],
        cleanup: Callable[[], Awaitable[None]],
    ) -> None:
        self.status_code = 200
        self.media_type = media
        self.background = None
        self.init_headers(headers)
        self._first = first
        self._feed = feed
        self._ending = ending
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        feed = self._feed
        watcher = asyncio.ensure_future(self._watch(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            frames, end = self._first
            while end is None:
                if frames:
                    body = frames[0] if len(frames) == 1 else b"".join(frames)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                frames, end = await feed.take()
            if end is not _GONE:
                # The generator is closed and the slot freed before the last bytes go out.
                frames.append(await self._ending(end))
                body = b"".join(frames)
                await send({"type": "http.response.body", "body": body, "more_body": False})
        finally:
            watcher.cancel()
            with anyio.CancelScope(shield=True):
                await self._cleanup()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._feed.stop()


def _error_frame(message: str, media: str) -> bytes:
    return error_frame(media, message, "server_error", "model_error")


_STREAM_TYPES = {SSE: SSE, JSON: NDJSON, MSGPACK: MSGPACK}


class _Slot:
    """One admitted call's place under the in-flight limit; released exactly once."""

    __slots__ = ("held", "state")

    def __init__(self, state: WorkerState) -> None:
        self.state = state
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.state.release()


class _Caller:
    """The handlers, bound to one WorkerState."""

    def __init__(self, state: WorkerState) -> None:
        self.state = state

    async def info(self, request: Request) -> Response:
        return Response(orjson.dumps(self.state.info()), media_type=JSON)

    async def healthz(self, request: Request) -> Response:
        body = {"status": "ok", "inflight": self.state.inflight}
        return Response(orjson.dumps(body), media_type=JSON)

    async def call(self, request: Request) -> Response:
        state = self.state
        name: str = request.path_params["method"]
        method = state.methods.get(name)
        if method is None:
            known = ", ".join(sorted(state.methods)) or "none"
            return _error(
                404,
                f"model {state.model} has no method {name!r} (it has: {known})",
                "not_found_error",
                "unknown_method",
            )
        if state.inflight >= state.max_inflight:
            return _error(
                429,
                f"worker for {state.model} is busy: {state.max_inflight} calls in flight",
                "rate_limit_error",
                "worker_busy",
            )
        state.inflight += 1
        slot = _Slot(state)
        response: Response | None = None
        try:
            response = await self._call(request, name, method, slot)
            return response
        finally:
            # A stream holds its slot until it ends; _StreamResponse releases it.
            if not isinstance(response, _StreamResponse):
                slot.release()

    async def _call(self, request: Request, name: str, method: MethodInfo, slot: _Slot) -> Response:
        state = self.state
        headers = request.headers
        req_media = media_type(headers.get("content-type"))
        body = await request.body()
        if not body or (req_media == JSON and body.isspace()):
            kwargs: Any = {}
        else:
            try:
                kwargs = decode(body, req_media)
            except CodecError as e:
                return _invalid(f"cannot decode the request body: {e}", "invalid_body")
            if not isinstance(kwargs, dict):
                return _invalid(
                    "the request body must be an object of keyword arguments, "
                    f"not {type(kwargs).__name__}",
                    "invalid_body",
                )
        problem = state.bindings[name].problem(kwargs)
        if problem is not None:
            message, param = problem
            return _invalid(f"{state.model}.{name}: {message}", "invalid_arguments", param)

        try:
            if method.kind == "sync":
                result = await anyio.to_thread.run_sync(
                    partial(method.func, **kwargs), limiter=state.limiter
                )
                if inspect.isawaitable(result):  # a wrapped coroutine function
                    result = await result
            elif method.kind == "async":
                result = await method.func(**kwargs)
            else:  # generator functions: creating the generator runs none of its code
                result = method.func(**kwargs)
        except Exception as e:
            return self._raised(request, name, e)

        out_media = accept_media(headers.get("accept"), req_media)
        if inspect.isgenerator(result) or inspect.isasyncgen(result):
            return await self._stream(request, name, result, out_media, slot)
        if out_media == SSE:
            out_media = JSON  # SSE is for streams; a plain value is sent as JSON
        try:
            content = encode(result, out_media)
        except EncodeError as e:
            return self._raised(request, name, e, what="returned a value it cannot send")
        extra = _usage_header(result)
        return Response(content, media_type=out_media, headers=extra)

    def _raised(
        self, request: Request, name: str, exc: Exception, what: str = "raised"
    ) -> Response:
        model = self.state.model
        request_id = request.headers.get("x-hai-request-id", "-")
        if what == "raised" and _is_bad_input(exc):
            # A model raises ValueError for input it cannot use: the caller's to fix, so 400.
            log.info("%s.%s rejected its input (request %s): %s", model, name, request_id, exc)
            return _invalid(f"{model}.{name} rejected the input: {exc}", "invalid_input")
        log.error("%s.%s %s (request %s)", model, name, what, request_id, exc_info=exc)
        if what == "raised":
            message = _model_error_message(model, name, exc)
        else:
            message = f"{model}.{name} {what}: {exc}"
        return _error(500, message, "server_error", "model_error")

    async def _stream(
        self, request: Request, name: str, gen: Any, media: str, slot: _Slot
    ) -> Response:
        state = self.state
        model = state.model
        rid = request.headers.get("x-hai-request-id", "-")
        frame_media = _STREAM_TYPES[media]
        feed = _Feed(asyncio.get_running_loop())

        def close_quietly(close: Callable[[], Any]) -> None:
            try:
                close()
            except Exception:
                log.exception("closing the stream of %s.%s failed (request %s)", model, name, rid)

        # One producer per stream runs the generator, encodes each item and hands the frame
        # over; it closes the generator itself when it ends or the client leaves.
        if inspect.isasyncgen(gen):

            async def produce_async() -> None:
                end: object = _GONE
                try:
                    while True:
                        try:
                            item = await gen.__anext__()
                        except StopAsyncIteration:
                            end = _END
                            return
                        except Exception as e:
                            end = _Failure(e, "raised")
                            return
                        try:
                            frame = encode_frame(item, frame_media)
                        except EncodeError as e:
                            end = _Failure(e, "yielded a value it cannot send")
                            return
                        if not await feed.put_async(frame):
                            return
                finally:
                    try:
                        await gen.aclose()
                    except Exception:
                        log.exception(
                            "closing the stream of %s.%s failed (request %s)", model, name, rid
                        )
                    feed.finish(end)

            producer: asyncio.Future[Any] = asyncio.ensure_future(produce_async())
        else:

            def produce_sync() -> None:
                end: object = _GONE
                try:
                    while True:
                        try:
                            # next(gen, _END): StopIteration must not end this loop silently.
                            item = next(gen, _END)
                        except Exception as e:
                            end = _Failure(e, "raised")
                            return
                        if item is _END:
                            end = _END
                            return
                        try:
                            frame = encode_frame(item, frame_media)
                        except EncodeError as e:
                            end = _Failure(e, "yielded a value it cannot send")
                            return
                        if not feed.put_threaded(frame):
                            return
                finally:
                    close_quietly(gen.close)
                    feed.finish(end)

            # The producer holds one thread of the pool for the stream's life (the stream
            # holds its in-flight slot as long, and the pool is sized like the slots).
            producer = asyncio.ensure_future(
                anyio.to_thread.run_sync(produce_sync, limiter=state.limiter)
            )

        async def cleanup() -> None:
            # Idempotent: stop the producer, wait for it (the generator is then closed), and
            # free the slot.
            feed.stop()
            try:
                await asyncio.shield(producer)
            except Exception:
                log.exception("the stream of %s.%s failed (request %s)", model, name, rid)
            finally:
                slot.release()

        async def ending(end: object) -> bytes:
            # The producer has closed the generator; free the slot before the last bytes go.
            await cleanup()
            if end is _END:
                return SSE_DONE if frame_media == SSE else b""
            assert isinstance(end, _Failure)
            e = end.exc
            if end.what == "raised":
                log.error("%s.%s raised mid-stream (request %s)", model, name, rid, exc_info=e)
                return _error_frame(_model_error_message(model, name, e), frame_media)
            log.error("%s.%s %s (request %s): %s", model, name, end.what, rid, e)
            return _error_frame(f"{model}.{name} {end.what}: {e}", frame_media)

        # The first item is waited for before answering, so a generator that fails at once
        # gets a plain error response with its status instead of a 200 with an error frame.
        try:
            first = await feed.take()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await cleanup()
            raise
        frames, end = first
        if not frames and isinstance(end, _Failure) and end.what == "raised":
            with anyio.CancelScope(shield=True):
                await cleanup()
            return self._raised(request, name, end.exc)  # type: ignore[arg-type]

        headers = {"x-hai-stream": "1"}
        if frame_media == SSE:
            headers["cache-control"] = "no-cache"
            headers["x-accel-buffering"] = "no"
        return _StreamResponse(first, frame_media, headers, feed, ending, cleanup)


def _usage_header(result: Any) -> dict[str, str] | None:
    if type(result) is not dict:
        return None
    usage = result.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) and not isinstance(completion, int):
        return None
    prompt = prompt if isinstance(prompt, int) else 0
    completion = completion if isinstance(completion, int) else 0
    return {"x-hai-usage": f"{prompt},{completion}"}


# ---------------------------------------------------------------------------- app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _error(
            404, f"no such worker endpoint: {request.url.path}", "not_found_error", "not_found"
        )
    if exc.status_code == 405:
        return _error(
            405,
            f"{request.method} is not allowed on {request.url.path}",
            "invalid_request_error",
            "method_not_allowed",
        )
    return _error(exc.status_code, str(exc.detail), "invalid_request_error", "http_error")


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("worker error on %s", request.url.path, exc_info=exc)
    return _error(
        500, f"worker error: {type(exc).__name__}: {exc}", "server_error", "internal_error"
    )


def create_worker_app(
    obj: object, model_name: str, token: str, max_inflight: int, call_token: str | None = None
) -> Starlette:
    """The worker ASGI app for `obj`; its WorkerState is `app.state.worker`.

    Requests must carry `token` (the worker token it registers with) or `call_token`."""
    if not token:
        raise ValueError("a worker needs a non-empty worker token")
    if max_inflight < 1:
        raise ValueError(f"max_inflight must be at least 1, not {max_inflight}")
    state = WorkerState(
        model=model_name,
        obj=obj,
        methods=remote_methods(obj),
        description=describe(obj),
        max_inflight=max_inflight,
    )
    caller = _Caller(state)
    app = Starlette(
        routes=[
            Route("/call/{method}", caller.call, methods=["POST"]),
            Route("/info", caller.info, methods=["GET"]),
            Route("/healthz", caller.healthz, methods=["GET"]),
        ],
        middleware=[Middleware(_TokenAuth, tokens=(token, call_token) if call_token else (token,))],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    app.state.worker = state
    return app

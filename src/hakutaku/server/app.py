"""The ASGI application: `/v1` gateway, `/api` control API, `/healthz`, `/metrics`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hakutaku import __version__
from hakutaku.accounting.collector import Collector
from hakutaku.api import billing, files, hub, identity, jobs, models, usage, workers
from hakutaku.compute.scheduler import Scheduler
from hakutaku.compute.service import ComputeService
from hakutaku.config import Settings
from hakutaku.db.session import Database
from hakutaku.errors import PlatformError, error_body
from hakutaku.gateway.context import Gateway
from hakutaku.gateway.embeddings import router as embeddings_router
from hakutaku.gateway.errors import error_response
from hakutaku.gateway.http import too_large
from hakutaku.gateway.models import router as models_router
from hakutaku.gateway.openai_chat import router as chat_router
from hakutaku.gateway.registry import Registry
from hakutaku.gateway.remote import router as remote_router
from hakutaku.identity.auth import KeyAuthenticator
from hakutaku.identity.secrets import SecretBox
from hakutaku.server.setup import prepare

log = logging.getLogger("hakutaku.server")

HTTP_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prepared = prepare(settings)
        db = Database(settings.sqlalchemy_url)
        box = SecretBox(prepared.server_secret)
        registry = Registry(db, box, settings.heartbeat_timeout)
        auth = KeyAuthenticator(db, prepared.server_secret, settings.key_cache_ttl)
        gw = Gateway(settings, db, registry, auth, box, prepared.worker_token)
        app.state.gateway = gw
        app.state.compute = compute = ComputeService(settings, on_job_exit=lambda: wake())
        app.state.scheduler = scheduler = Scheduler(compute, db, settings.scheduler_interval)
        wake = scheduler.wake
        collector = Collector(db, interval=settings.accounting_interval)
        await gw.start()
        await scheduler.start()
        collector.start()
        try:
            yield
        finally:
            await scheduler.stop()
            await collector.stop()
            await gw.stop()
            db.dispose()

    app = HakutakuApp(
        title="Hakutaku",
        version=__version__,
        summary="Open AI platform for high-energy physics: control API (/api).",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    for routes in (
        models_router.routes,
        remote_router.routes,
        chat_router.routes,
        embeddings_router.routes,
    ):
        app.router.routes.extend(routes)
    for router in (
        identity.router,
        models.router,
        workers.router,
        usage.router,
        billing.router,
        jobs.router,
        files.router,
        hub.router,
    ):
        app.include_router(router)
    app.add_api_route("/healthz", healthz, include_in_schema=False)
    app.add_api_route("/metrics", metrics, include_in_schema=False)
    app.add_middleware(DeclaredBodyLimit, limit=settings.max_body_bytes)
    app.add_exception_handler(PlatformError, _platform_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    return app


class HakutakuApp(FastAPI):
    """FastAPI, with the /v1 call endpoints dispatched before its middleware and router.

    They are the hot path: they need none of what the stack adds (they check the key and
    the body size themselves), and skipping it saves a fair share of the gateway's CPU.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = _fast_route(scope) if scope["type"] == "http" else None
        if endpoint is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        try:
            response = await endpoint(Request(scope, receive))
        except Exception:
            log.exception("unhandled error on %s", scope["path"])
            body = error_body("Internal server error.", "server_error", "internal_error")
            response = Response(body, 500, media_type="application/json")
        await response(scope, receive, send)


def _fast_route(scope: Scope) -> Callable[[Request], Awaitable[ASGIApp]] | None:
    if scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if path == "/v1/chat/completions":
        return chat_router.chat_completions
    if path == "/v1/embeddings":
        return embeddings_router.embeddings
    if path.startswith("/v1/models/"):
        model, sep, method = path[len("/v1/models/") :].partition("/")
        if model and sep and method and "/" not in method:
            scope["path_params"] = {"model": model, "method": method}
            return remote_router.remote_call
    return None


class DeclaredBodyLimit:
    """Refuse bodies declared larger than the limit before anything reads them (413).

    /v1 also counts the bytes it reads; this guards /api, whose bodies are parsed before
    the key is checked.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if value.isdigit() and int(value) > self.limit:
                        response = error_response(too_large(int(value), self.limit))
                        await response(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)


async def healthz(request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    snapshot = gw.registry.snapshot
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "models": len(snapshot.models),
            "workers": sum(len(ws) for ws in snapshot.workers.values()),
            "usage_pending": gw.usage.pending,
        }
    )


async def metrics(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    gw.metrics.usage_pending.set(gw.usage.pending)
    return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _platform_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PlatformError)
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"Invalid request: {where or 'body'}: {first.get('msg', 'invalid value')}."
    body = error_body(message, "invalid_request_error", "invalid_request", where or None)
    return Response(body, status_code=422, media_type="application/json")


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = HTTP_ERROR_TYPES.get(exc.status_code, "invalid_request_error")
    message = str(exc.detail)
    if exc.status_code == 404:
        message = "Not found: no such endpoint. See /docs for the API and /v1/models for models."
    elif exc.status_code == 405:
        message = f"Method not allowed on this endpoint ({exc.detail})."
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = error_body(message, kind, code)
    return Response(body, status_code=exc.status_code, media_type="application/json")

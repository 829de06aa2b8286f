"""The ASGI application: `/v1` gateway, `/api` control API, `/healthz`, `/metrics`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hakutaku import __version__
from hakutaku.api import (
    apps,
    billing,
    chat,
    deployments,
    files,
    hub,
    identity,
    jobs,
    models,
    papers,
    usage,
    worker_tokens,
    workers,
    workflows,
)
from hakutaku.apps.culler import Culler
from hakutaku.apps.proxy import AppProxy, is_app_path
from hakutaku.config import Settings
from hakutaku.errors import PlatformError, error_body
from hakutaku.gateway import routes as v1
from hakutaku.gateway.errors import error_response
from hakutaku.gateway.http import too_large
from hakutaku.portal import router as portal
from hakutaku.portal.app_answers import answer_pages
from hakutaku.server.replica import Replica
from hakutaku.server.timing import ServerTiming, count_queries

log = logging.getLogger("hakutaku.server")

HTTP_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        replica = Replica.assemble(settings)
        if settings.server_timing:
            count_queries(replica.db.engine)
        app.state.replica = replica
        pages = answer_pages(settings.portal_default_locale)
        app.state.app_proxy = AppProxy(replica, replica.apps, pages)
        culler = Culler(replica.apps, app.state.app_proxy, settings.apps_idle_minutes)
        await replica.start()
        culler.start()
        try:
            yield
        finally:
            await culler.stop()
            await app.state.app_proxy.close()
            await replica.stop()

    app = HakutakuApp(
        title="Hakutaku",
        version=__version__,
        summary="Open AI platform for high-energy physics: control API (/api).",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    for router in (
        identity.router,
        models.router,
        workers.router,
        worker_tokens.router,
        deployments.router,
        workflows.router,
        usage.router,
        billing.router,
        jobs.router,
        files.router,
        hub.router,
        papers.router,
        chat.router,
        apps.router,
    ):
        app.include_router(router)
    if settings.portal:
        portal.install(app)
    app.add_api_route("/healthz", healthz, include_in_schema=False)
    app.add_api_route("/metrics", metrics, include_in_schema=False)
    app.add_middleware(DeclaredBodyLimit, limit=settings.max_body_bytes)
    if settings.server_timing:
        app.add_middleware(ServerTiming)
    app.add_exception_handler(PlatformError, _platform_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    return app


class HakutakuApp(FastAPI):
    """FastAPI for /api and the pages; `/v1` and `/apps` are dispatched before its middleware
    and router.

    The gateway's endpoints are the hot path: they need none of what the stack adds (they
    check the key and the body size themselves), and skipping it saves a fair share of the
    gateway's CPU. `hakutaku.gateway.routes` is their one routing table.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and is_app_path(scope["path"]):
            # the apps proxy streams both ways and checks its own callers (hakutaku.apps.proxy)
            await self.state.app_proxy(scope, receive, send)
            return
        if scope["type"] != "http" or not v1.is_gateway_path(scope["path"]):
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        response: ASGIApp
        try:
            endpoint = v1.resolve(scope)
            response = await endpoint(Request(scope, receive))
        except PlatformError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("unhandled error on %s", scope["path"])
            body = error_body("Internal server error.", "server_error", "internal_error")
            response = Response(body, 500, media_type="application/json")
        await response(scope, receive, send)


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
    replica: Replica = request.app.state.replica
    gw = replica.gateway
    snapshot = gw.registry.snapshot
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "models": len(snapshot.models),
            "workers": sum(len(ws) for ws in snapshot.workers.values()),
            "usage_pending": gw.usage.pending,
            "scheduler": replica.scheduler.polling(),
        }
    )


async def metrics(request: Request) -> Response:
    gw = request.app.state.replica.gateway
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


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and portal.wants_page(request):
        return portal.not_found_page(request)
    kind = HTTP_ERROR_TYPES.get(exc.status_code, "invalid_request_error")
    message = str(exc.detail)
    if exc.status_code == 404:
        message = "Not found: no such endpoint. See /docs for the API and /v1/models for models."
    elif exc.status_code == 405:
        message = f"Method not allowed on this endpoint ({exc.detail})."
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = error_body(message, kind, code)
    return Response(body, status_code=exc.status_code, media_type="application/json")

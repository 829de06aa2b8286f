"""The apps proxy: `/apps/<session id>/...` (HTTP and websockets) to the session's app.

Every request is routed by the session id in its path, never by a host or port from the
browser, after checking who asks: the portal's session cookie must be the session owner's
(or an admin's, where HAI_APPS_ADMIN_ACCESS allows it); anyone else gets 404, as for a
session that does not exist, so ids cannot be probed. Websocket upgrades are checked the same
way before they are accepted, and their Origin must be this site's (a forged Origin is
refused: a page elsewhere cannot drive a user's Jupyter with the user's cookie). The proxy then
rewrites Origin and Host to the app's own, which is what Jupyter's origin check compares, adds
the session's secret header (the app refuses requests without it; the browser never sees it)
and drops the portal's cookie, which the app has no business reading.

Bodies stream both ways without a total timeout (large downloads and uploads), websockets are
relayed frame by frame with pings on both legs (uvicorn pings the browser; aiohttp pings the
app), so an idle terminal survives. A session that has ended answers a "session ended" page
naming why; one still starting answers a page that reloads itself until the app is up. These
pages come from the layer above (the portal's hakutaku.portal.app_answers, in the visitor's
language), handed in by the server as an `AnswerPage`.

The session (owner, node, port, secret, state) and the cookie's user are cached for a second
or two, so a busy notebook costs no database query per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from hakutaku.apps.sessions import APP_PREFIX, AppSessions, Target
from hakutaku.identity.auth import Principal
from hakutaku.identity.sessions import SESSION_COOKIE, find_session, principal_of

if TYPE_CHECKING:
    from hakutaku.server.replica import Replica

log = logging.getLogger("hakutaku.apps")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

TARGET_TTL = 1.0  # seconds a session's row is reused
USER_TTL = 2.0  # seconds a cookie's user is reused (a sign-out takes effect within this)
PROBE_TIMEOUT = 2.0
PING_INTERVAL = 20.0
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
# headers of a websocket handshake that the client library writes itself
WS_OWN = frozenset(
    {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions", b"origin"}
)
HIDDEN = b"[hidden]"  # what the browser sees where an app's page quotes its secret
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_app_path(path: str) -> bool:
    return path.startswith(APP_PREFIX)


@dataclass
class _Cached:
    value: Any
    until: float


@dataclass(frozen=True)
class Visitor:
    """Who sent a request: the cookie's signed-in user (None: nobody) and their own language
    setting (None: the browser's)."""

    user: Principal | None
    locale: str | None = None


# The proxy's own page of a kind ("not_found", "origin", "starting", "ended", "unreachable")
# as HTML: (kind, the request's Accept-Language, the visitor's own language setting or
# language cookie, the session if known) → the page.
AnswerPage = Callable[[str, str | None, str | None, Target | None], bytes]


class AppProxy:
    """One per replica: the caches and the HTTP client pool to the apps."""

    def __init__(self, replica: Replica, sessions: AppSessions, answer_page: AnswerPage) -> None:
        self.replica = replica
        self.sessions = sessions
        self.answer_page = answer_page
        self._targets: dict[str, _Cached] = {}
        self._users: dict[str, _Cached] = {}
        self._client: aiohttp.ClientSession | None = None
        self.activity: dict[str, float] = {}  # session id → last request or message (monotonic)

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                auto_decompress=False,  # bytes pass through as the app encoded them
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    # -- who and where ----------------------------------------------------------------------------

    def _lookup(self, token: str) -> Visitor:
        """The signed-in user of a portal cookie (blocking: runs in a thread)."""
        idle = timedelta(hours=self.replica.settings.portal_idle_hours)
        with self.replica.db.session() as s:
            row = find_session(s, self.replica.auth.server_secret, token, idle)
            if row is None:
                return Visitor(None)
            return Visitor(principal_of(row), row.user.locale)

    async def visitor(self, scope: Scope) -> Visitor:
        token = _cookie(scope, SESSION_COOKIE)
        if not token:
            return Visitor(None)
        now = time.monotonic()
        hit = self._users.get(token)
        if hit is not None and hit.until > now:
            found: Visitor = hit.value
            return found
        visitor = await asyncio.to_thread(self._lookup, token)
        if len(self._users) > 10_000:
            self._users.clear()
        self._users[token] = _Cached(visitor, now + USER_TTL)
        return visitor

    async def target(self, session_id: str, fresh: bool = False) -> Target | None:
        now = time.monotonic()
        hit = self._targets.get(session_id)
        if not fresh and hit is not None and hit.until > now:
            return hit.value
        target = await asyncio.to_thread(self.sessions.target, session_id)
        if len(self._targets) > 10_000:
            self._targets.clear()
        self._targets[session_id] = _Cached(target, now + TARGET_TTL)
        return target

    def forget(self, session_id: str) -> None:
        self._targets.pop(session_id, None)

    def may_open(self, user: Principal | None, target: Target | None) -> bool:
        if user is None or target is None:
            return False
        if target.user_id == user.user_id:
            return True
        return user.is_admin and self.replica.settings.apps_admin_access

    async def probe(self, target: Target) -> bool:
        """Is the app up: its readiness URL answers (with the secret) below 500."""
        if target.host is None:
            return False
        url = f"{target.origin}{APP_PREFIX}{target.session_id}/{target.app.ready_path}"
        name, value = target.app.header(target.secret)
        try:
            async with self.client.get(
                url,
                headers={name.decode(): value.decode()},
                timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT),
                allow_redirects=False,
            ) as r:
                up = r.status < 500
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
        if up:
            await asyncio.to_thread(self.sessions.mark_ready, target.session_id)
            self.forget(target.session_id)
        return up

    # -- the ASGI entry ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        session_id = path[len(APP_PREFIX) :].split("/", 1)[0]
        is_ws = scope["type"] == "websocket"
        if path == APP_PREFIX + session_id:  # no trailing slash: the app lives under one
            if is_ws:
                await _refuse_ws(scope, send, 404)
            else:
                await _redirect(send, path + "/" + _query(scope))
            return
        visitor = await self.visitor(scope)
        user = visitor.user
        target = await self.target(session_id)
        answer = self._answerer(scope, send, visitor)
        if not self.may_open(user, target):
            if user is None and not is_ws and target is not None:
                await _redirect(send, "/login?next=" + path)
                return
            await answer(404, "not_found")
            return
        assert target is not None
        if not _same_origin(scope, self.replica.settings.server_url):
            await answer(403, "origin")
            return
        if target.ended is None and not target.ready:
            target = await self.target(session_id, fresh=True) or target
            if target.ended is None and not target.ready and await self.probe(target):
                target = await self.target(session_id, fresh=True) or target
        if target.ended is not None:
            await answer(410, "ended", target)
            return
        if not target.ready or target.host is None:
            await answer(503, "starting", target)
            return
        self.activity[session_id] = time.monotonic()
        try:
            if is_ws:
                await self._websocket(scope, receive, send, target)
            else:
                await self._http(scope, receive, send, target)
        except (aiohttp.ClientConnectionError, OSError) as exc:
            # the app went away: ended (its job is over) or just broken
            self.forget(session_id)
            fresh = await self.target(session_id, fresh=True)
            if fresh is not None and fresh.ended is not None:
                await answer(410, "ended", fresh)
            else:
                log.info("app %s unreachable: %s", session_id, exc)
                await answer(502, "unreachable", target)

    # -- HTTP ------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send, target: Target) -> None:
        method: str = scope["method"]
        url = target.origin + _raw_path(scope)
        headers = _upstream_headers(scope, target)
        body = _request_body(receive) if _has_body(scope) else None
        async with self.client.request(
            method, url, headers=headers, data=body, allow_redirects=False
        ) as r:
            scrub = _is_text(r.headers.get("content-type", ""))
            out = [
                (k.lower(), v)
                for k, v in r.raw_headers
                if (k.lower() not in HOP_BY_HOP or (k.lower() == b"content-length" and not scrub))
                and not _sets_portal_cookie(k, v)
            ]
            await send({"type": "http.response.start", "status": r.status, "headers": out})
            if scrub:  # pages may quote the secret (Jupyter Lab's page config does): cut it out
                scrubber = Scrubber(target.secret.encode())
                async for chunk in r.content.iter_any():
                    await send(
                        {
                            "type": "http.response.body",
                            "body": scrubber.feed(chunk),
                            "more_body": True,
                        }
                    )
                await send({"type": "http.response.body", "body": scrubber.end()})
                return
            async for chunk in r.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    # -- websockets ------------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, target: Target) -> None:
        url = "ws" + target.origin[4:] + _raw_path(scope)
        headers = [(k, v) for k, v in _upstream_headers(scope, target) if k.encode() not in WS_OWN]
        protocols = [
            p.strip() for p in _header(scope, b"sec-websocket-protocol").split(",") if p.strip()
        ]
        headers = [(k, v) for k, v in headers if k != "sec-websocket-protocol"]
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        async with self.client.ws_connect(
            url,
            headers=_multi(headers),
            origin=target.origin,
            protocols=protocols,
            heartbeat=PING_INTERVAL,
            max_msg_size=0,
            autoping=True,
        ) as upstream:
            accept: dict[str, Any] = {"type": "websocket.accept"}
            if upstream.protocol:
                accept["subprotocol"] = upstream.protocol
            await send(accept)
            await _relay(receive, send, upstream, self.activity, target.session_id)

    # -- the proxy's own answers -------------------------------------------------------------------

    def _answerer(
        self, scope: Scope, send: Send, visitor: Visitor
    ) -> Callable[..., Awaitable[None]]:
        """The proxy's own answer to this request: a refused upgrade for a websocket, else a
        page of the portal's in the visitor's language."""

        async def answer(status: int, kind: str, target: Target | None = None) -> None:
            if scope["type"] == "websocket":
                await _refuse_ws(scope, send, status)
                return
            own = visitor.locale or _cookie(scope, "hai_lang")
            page = self.answer_page(kind, _header(scope, b"accept-language"), own, target)
            headers = [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"cache-control", b"no-store"),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": page})

        return answer


async def _relay(
    receive: Receive,
    send: Send,
    upstream: aiohttp.ClientWebSocketResponse,
    activity: dict[str, float],
    session_id: str,
) -> None:
    async def browser_to_app() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close()
                return
            activity[session_id] = time.monotonic()
            if message.get("bytes") is not None:
                await upstream.send_bytes(message["bytes"])
            elif message.get("text") is not None:
                await upstream.send_str(message["text"])

    async def app_to_browser() -> None:
        async for message in upstream:
            if message.type is aiohttp.WSMsgType.TEXT:
                await send({"type": "websocket.send", "text": message.data})
            elif message.type is aiohttp.WSMsgType.BINARY:
                await send({"type": "websocket.send", "bytes": message.data})
            else:
                break
        code = upstream.close_code or 1000
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": code if code != 1006 else 1011})

    tasks = [asyncio.ensure_future(browser_to_app()), asyncio.ensure_future(app_to_browser())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# -- small helpers --------------------------------------------------------------------------------


class Scrubber:
    """Replaces every occurrence of the secret in a stream of chunks, also one split across
    two chunks (it holds back the last len(secret) - 1 bytes until it sees more), by
    `[hidden]`: brackets are not in the secret's alphabet, so no new occurrence can form."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = (self.held + chunk).replace(self.secret, HIDDEN)
        keep = len(self.secret) - 1
        self.held, ready = data[len(data) - keep :], data[: len(data) - keep]
        if len(data) <= keep:
            self.held, ready = data, b""
        return ready

    def end(self) -> bytes:
        held, self.held = self.held, b""
        return held


def _sets_portal_cookie(name: bytes, value: bytes) -> bool:
    """An app's Set-Cookie of the portal's own cookie (it would sign the user out, or in as
    someone else): never passed on."""
    return name.lower() == b"set-cookie" and value.lstrip().startswith(
        SESSION_COOKIE.encode() + b"="
    )


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("text/") or kind in (
        "application/json",
        "application/javascript",
        "application/xml",
    )


def _header(scope: Scope, name: bytes) -> str:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return ""


def _cookie(scope: Scope, name: str) -> str | None:
    for k, v in scope["headers"]:
        if k == b"cookie":
            for part in v.decode("latin-1").split(";"):
                key, _, value = part.strip().partition("=")
                if key == name:
                    return value
    return None


def _without_cookie(value: bytes, name: str) -> bytes:
    parts = [p for p in value.split(b";") if p.strip().partition(b"=")[0] != name.encode()]
    return b";".join(parts).strip()


def _same_origin(scope: Scope, server_url: str) -> bool:
    """A request with no Origin passes (browsers always send one where it matters: on
    websockets and unsafe methods); one with an Origin must name this site."""
    origin = _header(scope, b"origin")
    if not origin:
        return True
    if scope["type"] == "http" and scope["method"] not in UNSAFE:
        return True
    netloc = urlsplit(origin).netloc.lower()
    host = _header(scope, b"host").lower()
    return bool(netloc) and netloc in (host, urlsplit(server_url).netloc.lower())


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    return path + _query(scope)


def _query(scope: Scope) -> str:
    query = scope.get("query_string") or b""
    return "?" + query.decode("latin-1") if query else ""


def _upstream_headers(scope: Scope, target: Target) -> list[tuple[str, str]]:
    secret_name, secret_value = target.app.header(target.secret)
    client = scope.get("client") or ("", 0)
    out: list[tuple[str, str]] = []
    for k, v in scope["headers"]:
        if k in HOP_BY_HOP and not (k == b"content-length" and scope["type"] == "http"):
            continue
        if k == secret_name:
            continue  # the browser's own would override the session's: drop it
        if k == b"accept-encoding":
            continue  # identity bodies, so that text can be scrubbed of the secret
        if k == b"cookie":
            v = _without_cookie(v, SESSION_COOKIE)
            if not v:
                continue
        if k == b"origin":
            v = target.origin.encode()
        out.append((k.decode("latin-1"), v.decode("latin-1")))
    out.append((secret_name.decode(), secret_value.decode()))
    out.append(("x-forwarded-for", str(client[0])))
    out.append(("x-forwarded-host", _header(scope, b"host")))
    out.append(
        ("x-forwarded-proto", "https" if scope.get("scheme") in ("https", "wss") else "http")
    )
    return out


def _multi(headers: list[tuple[str, str]]) -> Any:
    from multidict import CIMultiDict

    return CIMultiDict(headers)


def _has_body(scope: Scope) -> bool:
    names = {k for k, _ in scope["headers"]}
    return b"content-length" in names or b"transfer-encoding" in names


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body"):
            return


async def _redirect(send: Send, location: str) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _refuse_ws(scope: Scope, send: Send, status: int) -> None:
    """Refuse an upgrade with an HTTP status (where the server can), else close before accept
    (the browser sees the handshake fail either way; nothing reaches the app)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = f"{status}".encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008})

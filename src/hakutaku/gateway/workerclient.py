"""The gateway's HTTP/1.1 client for calls to workers.

A worker call is always the same shape: `POST /call/{method}` with a body already in memory,
answered with a Content-Length or chunked body, sometimes a long stream. aiohttp's general
client spent about 40 % of the gateway's CPU on that; this one is an `asyncio.Protocol` with
httptools' response parser and nothing else: one request at a time per connection, idle
connections reused newest first, a prebuilt request head.

Pool rules (`WorkerPool`, one per worker URL):

- at most `max_connections` connections; a call past that waits for one to come back;
- an idle connection is closed after `idle_timeout` seconds (30 s, well under the worker's
  75 s keep-alive, so the worker never closes a connection this pool may reuse);
- before an idle connection is reused it is checked (closed, expired, or readable: a
  connection with bytes or an EOF waiting while idle is one the worker is closing) and
  dropped if so; a request whose first write fails at once was not sent and is retried on
  another connection. Nothing else is retried: once a request's bytes may have reached the
  worker, a failure is the caller's `WorkerIOError`, because a worker killed in the middle of
  a call looks the same on the wire as a worker closing a stale connection, and calls are
  not idempotent.

Errors: `ConnectError` — the call never reached the worker (refused, unreachable, connect
timeout); `WorkerIOError` — the connection broke or the response was malformed after the
call may have been sent; `TimeoutError` — no byte from the worker for `read_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections import deque
from urllib.parse import quote, urlsplit

import httptools

IDLE_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
# Past this much unread response body, stop reading from the worker until the relay catches up.
HIGH_WATER = 1 << 20
# Bodies up to this size are sent in the same write as the request head.
_JOIN_LIMIT = 1 << 16


class ConnectError(OSError):
    """The call never reached the worker: the connection could not be made."""


class WorkerIOError(OSError):
    """The connection broke, or the response was malformed, after the call may have been sent."""


class WorkerResponse:
    """The status and headers of a worker's answer, and its body as it arrives.

    Read it with `read()` (whole body) or `chunk()` (what has arrived; b"" at the end), then
    `release()` it. `close()` drops the connection, which tells the worker the caller left.
    """

    __slots__ = ("_conn", "_done", "headers", "status")

    def __init__(self, conn: _Conn, status: int, headers: dict[str, str]) -> None:
        self._conn = conn
        self._done = False
        self.status = status
        self.headers = headers

    async def read(self) -> bytes:
        conn = self._conn
        while not conn.complete:
            await conn.wait()
        data = b"".join(conn.body) if len(conn.body) != 1 else conn.body[0]
        conn.body.clear()
        conn.buffered = 0
        return data

    async def chunk(self) -> bytes:
        """Everything received since the last call, waiting if there is nothing; b"" at the end."""
        conn = self._conn
        while not conn.body:
            if conn.complete:
                return b""
            await conn.wait()
        body = conn.body
        data = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        conn.buffered = 0
        if conn.paused:
            conn.paused = False
            if conn.transport is not None:
                conn.transport.resume_reading()
        return data

    def release(self) -> None:
        """Give the connection back (kept alive if the response was read to its end)."""
        if not self._done:
            self._done = True
            self._conn.pool.release(self._conn)

    def close(self) -> None:
        """Drop the connection unless the response already ended; safe to call twice."""
        if self._done:  # the connection may already carry another call
            return
        self._done = True
        conn = self._conn
        if not conn.complete:
            conn.abort(WorkerIOError("the connection to the worker was closed"))
        conn.pool.release(conn)


class _Conn(asyncio.Protocol):
    """One connection to a worker, and the state of the request on it."""

    __slots__ = (
        "body",
        "buffered",
        "closed",
        "complete",
        "counted",
        "error",
        "header_done",
        "headers",
        "idle_since",
        "in_use",
        "keep_alive",
        "last_read",
        "loop",
        "parser",
        "paused",
        "poller",
        "pool",
        "read_timeout",
        "requests",
        "timer",
        "transport",
        "waiter",
    )

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.poller: select.poll | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.error: BaseException | None = None
        self.headers: dict[str, str] = {}
        self.header_done = False
        self.body: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.complete = True  # no request in flight
        self.closed = False
        self.counted = False  # in the pool's `open` count (from when connect returned)
        self.keep_alive = True
        self.in_use = True
        self.idle_since = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.read_timeout = 0.0
        self.last_read = 0.0
        self.requests = 0

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.poller = select.poll()
            self.poller.register(sock.fileno(), select.POLLIN)

    def data_received(self, data: bytes) -> None:
        if self.complete:  # bytes nobody asked for: the connection cannot be trusted
            self.keep_alive = False
            self.abort(None)
            return
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.abort(WorkerIOError(f"malformed response from the worker: {exc}"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_timer()
        if not self.complete:
            if exc is None:
                what = "the worker closed the connection"
            else:
                what = f"connection error: {getattr(exc, 'strerror', None) or exc}"
            self._fail(WorkerIOError(what))
        self.pool.lost(self)

    # -- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.header_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self._stop_timer()
        self._wake()

    # -- request state ------------------------------------------------------------------------

    def start(self, data: bytes, body: bytes | None, read_timeout: float | None) -> bool:
        """Send a request; False when the first write failed at once (nothing was sent)."""
        self.headers = {}
        self.header_done = False
        self.body = []
        self.buffered = 0
        self.complete = False
        self.error = None
        transport = self.transport
        assert transport is not None
        transport.write(data)
        if transport.is_closing():
            # The write failed inside write(): not one byte left this machine.
            self.complete = True
            self.keep_alive = False
            return False
        if body:
            transport.write(body)
        if read_timeout:
            self.read_timeout = read_timeout
            self.last_read = self.loop.time()
            self.timer = self.loop.call_at(self.last_read + read_timeout, self._check_timeout)
        return True

    def usable(self, now: float, idle_timeout: float) -> bool:
        """Whether an idle connection can carry another request."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return False
        if now - self.idle_since >= idle_timeout:
            return False
        # Readable while idle: the worker's EOF (or junk) is waiting; do not send into it.
        return not (self.poller is not None and self.poller.poll(0))

    def _check_timeout(self) -> None:
        self.timer = None
        if self.complete:
            return
        now = self.loop.time()
        if self.paused:  # we stopped reading, not the worker: not the worker's delay
            self.last_read = now
        due = self.last_read + self.read_timeout
        if now < due:
            self.timer = self.loop.call_at(due, self._check_timeout)
            return
        self.abort(TimeoutError())

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(self.error)

    def abort(self, exc: BaseException | None) -> None:
        """Close the connection; a request in flight fails with `exc`."""
        self.keep_alive = False
        self._stop_timer()
        if exc is not None and not self.complete:
            self._fail(exc)
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    async def wait(self) -> None:
        if self.error is not None:
            raise self.error
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None


class WorkerPool:
    """Keep-alive connections to one worker (see the module docstring for the rules)."""

    def __init__(
        self,
        base_url: str,
        headers: list[tuple[str, str]] | None = None,
        *,
        max_connections: int = 64,
        idle_timeout: float = IDLE_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"worker URLs are plain http://, not {base_url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        fixed = "".join(f"{k}: {v}\r\n" for k, v in headers or ())
        _check_header_text(fixed, len(headers or ()))
        self._fixed = f"host: {parts.netloc}\r\n{fixed}".encode()
        self._lines: dict[str, bytes] = {}
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.loop = asyncio.get_running_loop()
        self.idle: deque[_Conn] = deque()
        self.open = 0  # connections made or being made, not yet lost
        self.waiters: deque[asyncio.Future[_Conn | None]] = deque()
        self.closed = False
        self._sweeper: asyncio.TimerHandle | None = None

    # -- requests -----------------------------------------------------------------------------

    async def post(
        self,
        path: str,
        body: bytes,
        headers: list[tuple[str, str]],
        read_timeout: float | None = None,
    ) -> WorkerResponse:
        """Send `POST path` and wait for the response's status and headers."""
        head = self._lines.get(path)
        if head is None:
            head = self._request_line(path)
        extra = "".join([f"{k}: {v}\r\n" for k, v in headers])
        _check_header_text(extra, len(headers))
        head = b"%s%scontent-length: %d\r\n\r\n" % (head, extra.encode(), len(body))
        if len(body) <= _JOIN_LIMIT:
            data, rest = head + body, None
        else:
            data, rest = head, body
        while True:
            conn = await self._acquire()
            reused = conn.requests > 0
            conn.requests += 1
            if conn.start(data, rest, read_timeout):
                break
            self.release(conn)
            if not reused:
                raise ConnectError("cannot send the call to the worker: the connection failed")
            # A kept-alive connection that broke before taking a byte: use another one.
        try:
            while not conn.header_done:
                await conn.wait()
        except BaseException:
            conn.abort(None)
            self.release(conn)
            raise
        return WorkerResponse(conn, conn.parser.get_status_code(), conn.headers)

    def _request_line(self, path: str) -> bytes:
        target = quote(self.prefix + path, safe="/:@!$&'()*+,;=-._~")
        line = b"POST " + target.encode("ascii") + b" HTTP/1.1\r\n" + self._fixed
        if len(self._lines) < 1024:
            self._lines[path] = line
        return line

    # -- connections --------------------------------------------------------------------------

    async def _acquire(self) -> _Conn:
        if self.closed:
            raise ConnectError("the gateway is shutting down")
        idle = self.idle
        if idle:
            now = self.loop.time()
            while idle:
                conn = idle.pop()
                if conn.usable(now, self.idle_timeout):
                    conn.in_use = True
                    return conn
                conn.abort(None)
        if self.open < self.max_connections and not self.waiters:
            self.open += 1
            return await self._connect()
        fut: asyncio.Future[_Conn | None] = self.loop.create_future()
        self.waiters.append(fut)
        try:
            got = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                given = fut.result()
                if given is None:  # a slot to connect in: pass it on
                    self.open -= 1
                    self._wake_one()
                else:
                    given.in_use = False
                    self.release(given)
            else:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(fut)
            raise
        if got is None:
            return await self._connect()
        return got

    async def _connect(self) -> _Conn:
        """A new connection; the caller has already counted it in `self.open`."""
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: _Conn(self), self.host, self.port),
                self.connect_timeout,
            )
        except BaseException as exc:
            self.open -= 1
            self._wake_one()
            if isinstance(exc, OSError):
                raise ConnectError(
                    exc.errno, f"cannot connect to the worker: {exc.strerror or exc}"
                ) from exc
            if isinstance(exc, TimeoutError):
                raise ConnectError(
                    f"cannot connect to the worker: no answer in {self.connect_timeout:g} s"
                ) from exc
            raise
        if conn.closed or self.closed:  # lost already (not counted out) or shutting down
            self.open -= 1
            self._wake_one()
            conn.abort(None)
            raise ConnectError("the connection to the worker closed at once")
        conn.counted = True
        return conn

    def release(self, conn: _Conn) -> None:
        """Take a connection back after a request: keep it alive, hand it on, or close it."""
        if not conn.in_use:
            return
        conn.in_use = False
        if conn.closed or not conn.complete or not conn.keep_alive or self.closed:
            conn.abort(None)  # counted out in lost()
            return
        if conn.paused:
            conn.paused = False
            if conn.transport is not None:
                conn.transport.resume_reading()
        conn.body = []
        conn.error = None
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                conn.in_use = True
                fut.set_result(conn)
                return
        conn.idle_since = self.loop.time()
        self.idle.append(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_at(
                conn.idle_since + self.idle_timeout + 0.05, self._sweep
            )

    def lost(self, conn: _Conn) -> None:
        """A connection closed (either side): free its place under the cap."""
        if not conn.counted:
            return
        conn.counted = False
        self.open -= 1
        if not conn.in_use:
            with contextlib.suppress(ValueError):
                self.idle.remove(conn)
        self._wake_one()

    def _wake_one(self) -> None:
        while self.waiters and self.open < self.max_connections:
            fut = self.waiters.popleft()
            if not fut.done():
                self.open += 1  # reserved for the waiter, which connects
                fut.set_result(None)

    def _sweep(self) -> None:
        """Close the connections idle for `idle_timeout`; come back for the next one due."""
        self._sweeper = None
        now = self.loop.time()
        idle = self.idle
        while idle and now - idle[0].idle_since >= self.idle_timeout:
            idle.popleft().abort(None)
        if idle:
            self._sweeper = self.loop.call_at(
                idle[0].idle_since + self.idle_timeout + 0.05, self._sweep
            )

    def close(self) -> None:
        """Close the idle connections and refuse new calls; calls in flight finish."""
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        while self.idle:
            self.idle.pop().abort(None)
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(ConnectError("the gateway is shutting down"))


def _check_header_text(text: str, lines: int) -> None:
    """Header names and values must not smuggle line breaks into the request head."""
    if text.count("\n") != lines or text.count("\r") != lines:
        raise ValueError("a header name or value contains a line break")

"""The gateway's worker client against a real local HTTP server that the test scripts.

Each path of the scripted server answers one way: content-length or chunked bodies, a held
answer, a reset in the middle of a response, no answer at all. The server records which
connection carried each request, so keep-alive reuse and the pool cap are checked on the
server's side of the socket.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from hakutaku.gateway.workerclient import ConnectError, WorkerIOError, WorkerPool

pytestmark = pytest.mark.anyio

HEADERS = [("content-type", "application/json"), ("accept", "application/json")]


@pytest.fixture(params=[pytest.param(False, id="asyncio"), pytest.param(True, id="uvloop")])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    # The gateway runs on uvloop; the client must behave the same on both loops.
    return ("asyncio", {"use_uvloop": request.param})


@dataclass
class Scripted:
    """A tiny HTTP/1.1 server; what it answers depends on the path."""

    connections: int = 0
    open: int = 0
    most_open: int = 0
    requests: list[tuple[int, str, dict[str, str], bytes]] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    step: asyncio.Event = field(default_factory=asyncio.Event)
    writers: dict[int, asyncio.StreamWriter] = field(default_factory=dict)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        cid = self.connections
        self.writers[cid] = writer
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                _, path, _ = lines[0].split(" ")
                headers = {}
                for line in lines[1:]:
                    if line:
                        k, _, v = line.partition(": ")
                        headers[k.lower()] = v
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((cid, path, headers, body))
                if not await self.answer(path, cid, body, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            self.closed.append(cid)
            writer.close()

    async def answer(
        self, path: str, cid: int, body: bytes, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> bool:
        def whole(status: str, content: bytes, extra: str = "") -> None:
            w.write(
                f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}"
                f"content-length: {len(content)}\r\n\r\n".encode()
                + content
            )

        if path == "/call/echo":
            whole("200 OK", body, f"x-conn: {cid}\r\nx-hai-usage: 3,4\r\n")
        elif path == "/call/busy":
            whole("429 Too Many Requests", b'{"error": {"code": "worker_busy"}}')
        elif path == "/call/then-close":  # answers, then closes the idle connection
            whole("200 OK", b"1")
            await w.drain()
            return False
        elif path == "/call/chunked":  # three chunks; the second waits for the test's go
            w.write(b"HTTP/1.1 200 OK\r\nx-hai-stream: 1\r\ntransfer-encoding: chunked\r\n\r\n")
            w.write(b"2\r\nab\r\n")
            await w.drain()
            if not await self.until_step(r):
                return False  # the client left
            w.write(b"3\r\ncde\r\n")
            w.write(b"1\r\nf\r\n0\r\n\r\n")
        elif path == "/call/hold":  # answers when the test says so
            await self.release.wait()
            whole("200 OK", b"held")
        elif path == "/call/silent":  # never answers; notices the client leaving
            await r.read(1)
            return False
        elif path == "/call/trickle":  # one chunk every 0.1 s, 6 in all
            w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for _ in range(6):
                await asyncio.sleep(0.1)
                w.write(b"1\r\nx\r\n")
            w.write(b"0\r\n\r\n")
        elif path == "/call/stall":  # starts a stream, then goes quiet
            w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n")
            await r.read(1)
            return False
        elif path == "/call/reset":  # half a response, then a TCP reset
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
            await w.drain()
            await asyncio.sleep(0.05)
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()
            return False
        else:
            whole("404 Not Found", b"{}")
        return True

    async def until_step(self, r: asyncio.StreamReader) -> bool:
        """Wait for the test's go (True) or for the client to hang up (False)."""
        go = asyncio.ensure_future(self.step.wait())
        eof = asyncio.ensure_future(r.read(1))
        await asyncio.wait([go, eof], return_when=asyncio.FIRST_COMPLETED)
        go.cancel()
        eof.cancel()
        await asyncio.gather(go, eof, return_exceptions=True)
        return go.done() and not go.cancelled()


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    scripted = Scripted()
    srv = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    scripted.port = srv.sockets[0].getsockname()[1]
    try:
        yield scripted
    finally:
        scripted.release.set()
        scripted.step.set()
        for w in scripted.writers.values():
            w.close()
        srv.close()


def pool_for(server: Scripted, **options: float) -> WorkerPool:
    return WorkerPool(
        f"http://127.0.0.1:{server.port}",
        [("authorization", "Bearer secret")],
        **options,  # type: ignore[arg-type]
    )


async def until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_keep_alive_reuses_one_connection(server: Scripted) -> None:
    pool = pool_for(server)
    for i in range(3):
        r = await pool.post("/call/echo", b'{"i": %d}' % i, HEADERS, 5)
        assert r.status == 200
        assert await r.read() == b'{"i": %d}' % i
        assert r.headers["x-hai-usage"] == "3,4"
        assert r.headers["content-type"] == "application/json"
        r.release()
    assert [cid for cid, *_ in server.requests] == [1, 1, 1]
    _, path, headers, _ = server.requests[0]
    assert path == "/call/echo"
    assert headers["authorization"] == "Bearer secret"
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["accept"] == "application/json"
    assert pool.open == 1 and len(pool.idle) == 1
    pool.close()


async def test_error_statuses_come_back_as_they_are(server: Scripted) -> None:
    pool = pool_for(server)
    r = await pool.post("/call/busy", b"{}", HEADERS, 5)
    assert r.status == 429
    assert b"worker_busy" in await r.read()
    r.release()
    pool.close()


async def test_large_body_is_sent_whole(server: Scripted) -> None:
    pool = pool_for(server)
    body = bytes(range(256)) * 4096  # 1 MiB: sent apart from the head
    r = await pool.post("/call/echo", body, HEADERS, 5)
    assert await r.read() == body
    r.release()
    pool.close()


async def test_chunked_response_arrives_as_it_is_sent(server: Scripted) -> None:
    pool = pool_for(server)
    r = await pool.post("/call/chunked", b"", HEADERS, 5)
    assert r.headers["x-hai-stream"] == "1"
    assert await r.chunk() == b"ab"  # the server holds the rest until it gets the go
    server.step.set()
    rest = b""
    while chunk := await r.chunk():
        rest += chunk
    assert rest == b"cdef"
    r.release()
    # The connection was kept: the next call uses it.
    r = await pool.post("/call/echo", b"x", HEADERS, 5)
    assert await r.read() == b"x"
    r.release()
    assert [cid for cid, *_ in server.requests] == [1, 1]
    pool.close()


async def test_server_closing_an_idle_connection(server: Scripted) -> None:
    pool = pool_for(server)
    r = await pool.post("/call/then-close", b"", HEADERS, 5)
    assert await r.read() == b"1"
    r.release()
    # Block the loop so the client has not processed the EOF when it next picks a connection:
    # the check before reuse sees it waiting and opens a new connection instead.
    await until(lambda: server.closed == [1])
    time.sleep(0.05)
    r = await pool.post("/call/echo", b"again", HEADERS, 5)
    assert await r.read() == b"again"
    r.release()
    assert [cid for cid, *_ in server.requests] == [1, 2]
    await until(lambda: pool.open == 1)


async def test_idle_connections_expire(server: Scripted) -> None:
    pool = pool_for(server, idle_timeout=0.2)
    r = await pool.post("/call/echo", b"", HEADERS, 5)
    await r.read()
    r.release()
    assert len(pool.idle) == 1
    await until(lambda: server.closed == [1], timeout=3)  # the pool closed it, not the server
    assert not pool.idle and pool.open == 0
    r = await pool.post("/call/echo", b"", HEADERS, 5)
    await r.read()
    r.release()
    assert [cid for cid, *_ in server.requests] == [1, 2]
    pool.close()


async def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    pool = WorkerPool(f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectError):
        await pool.post("/call/echo", b"", HEADERS, 5)
    assert pool.open == 0


async def test_reset_in_the_middle_of_a_response(server: Scripted) -> None:
    pool = pool_for(server)
    r = await pool.post("/call/reset", b"", HEADERS, 5)
    assert r.status == 200
    with pytest.raises(WorkerIOError):
        await r.read()
    r.release()
    await until(lambda: pool.open == 0)
    r = await pool.post("/call/echo", b"ok", HEADERS, 5)  # a fresh connection works
    assert await r.read() == b"ok"
    r.release()
    pool.close()


async def test_read_timeout_before_the_answer(server: Scripted) -> None:
    pool = pool_for(server)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await pool.post("/call/silent", b"", HEADERS, 0.3)
    assert 0.25 < time.monotonic() - started < 3
    await until(lambda: server.closed == [1])  # the connection was dropped
    pool.close()


async def test_read_timeout_counts_from_the_last_byte(server: Scripted) -> None:
    pool = pool_for(server)
    # A stream slower in total than the timeout, but never quiet for that long, is fine.
    r = await pool.post("/call/trickle", b"", HEADERS, 0.3)
    data = b""
    while chunk := await r.chunk():
        data += chunk
    assert data == b"x" * 6
    r.release()
    # A stream that goes quiet times out mid-way.
    r = await pool.post("/call/stall", b"", HEADERS, 0.3)
    assert await r.chunk() == b"x"
    with pytest.raises(TimeoutError):
        await r.chunk()
    r.close()
    pool.close()


async def test_close_drops_an_unfinished_response(server: Scripted) -> None:
    pool = pool_for(server)
    r = await pool.post("/call/chunked", b"", HEADERS, 5)
    assert await r.chunk() == b"ab"
    r.close()  # the caller left: the server sees the connection go
    await until(lambda: server.closed == [1])
    with pytest.raises(WorkerIOError):
        await r.chunk()
    r.close()  # twice is fine
    await until(lambda: pool.open == 0)
    assert not pool.idle
    pool.close()


async def test_pool_cap_queues_calls(server: Scripted) -> None:
    pool = pool_for(server, max_connections=2)

    async def call() -> bytes:
        r = await pool.post("/call/hold", b"", HEADERS, 5)
        try:
            return await r.read()
        finally:
            r.release()

    calls = [asyncio.create_task(call()) for _ in range(5)]
    await until(lambda: len(server.requests) == 2)
    await asyncio.sleep(0.1)
    assert len(server.requests) == 2 and pool.open == 2 and len(pool.waiters) == 3
    # A queued call that gives up leaves no trace.
    calls[4].cancel()
    await asyncio.sleep(0.01)
    server.release.set()
    assert await asyncio.gather(*calls[:4]) == [b"held"] * 4
    assert server.most_open == 2 and server.connections == 2
    assert pool.open == 2 and not pool.waiters
    pool.close()
    await until(lambda: server.open == 0)


async def test_header_values_cannot_break_the_request_head(server: Scripted) -> None:
    pool = pool_for(server)
    with pytest.raises(ValueError):
        await pool.post("/call/echo", b"", [("x-hai-user", "bob\r\nx-evil: 1")], 5)
    assert pool.open == 0
    r = await pool.post("/call/odd name", b"", HEADERS, 5)  # the path is percent-encoded
    await r.read()
    r.release()
    assert server.requests[-1][1] == "/call/odd%20name"
    pool.close()

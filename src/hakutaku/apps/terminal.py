"""The Terminal app: the user's shell on a PTY inside the job, served to xterm.js.

Run in the job as `python -m hakutaku.apps.terminal` with HAI_APP_HOST, HAI_APP_PORT,
HAI_APP_BASE_URL and HAI_APP_SECRET (the platform sets them). One shell per session, started
with the server: every websocket that connects (a second tab, or the same tab after a network
blip) attaches to it and first gets its recent output, so a reconnect finds the same shell with
what was on the screen. The shell's exit ends the server, and so the job.

Every request must carry `Authorization: token <secret>` (the proxy adds it); anything else
gets 403. Messages from the browser are JSON text frames, `{"type": "input", "data": "..."}`
and `{"type": "resize", "cols": C, "rows": R}`; the shell's output goes back as binary frames.
Uvicorn pings the websocket every 20 s, so an idle shell is not dropped by the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hmac
import json
import os
import pty
import pwd
import signal
import struct
import sys
import termios
import time
from pathlib import Path

SCROLLBACK = 256 * 1024  # bytes of output replayed to a (re)connecting browser
STATIC = Path(__file__).with_name("static")
VENDOR = Path(__file__).parent.parent / "portal" / "static" / "vendor"
FILES = {
    "terminal.js": (STATIC / "terminal.js", "text/javascript"),
    "xterm.js": (VENDOR / "xterm.js", "text/javascript"),
    "xterm.css": (VENDOR / "xterm.css", "text/css"),
    "xterm-addon-fit.js": (VENDOR / "xterm-addon-fit.js", "text/javascript"),
}
# variables of the session that the user's shell does not need
_HIDDEN = ("HAI_APP_SECRET", "JUPYTER_TOKEN")


class Shell:
    """The one shell of this session, on a PTY, with the tail of its output."""

    def __init__(self) -> None:
        self.pid, self.fd = _spawn_shell()
        self.output = bytearray()
        self.clients: set[asyncio.Queue[bytes | None]] = set()
        self.exited = asyncio.Event()
        self.last_input = time.time()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        os.set_blocking(self.fd, False)
        loop.add_reader(self.fd, self._readable, loop)

    def _readable(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the shell and everything on its terminal are gone
            data = b""
        if not data:
            loop.remove_reader(self.fd)
            for queue in self.clients:
                queue.put_nowait(None)
            self.exited.set()
            return
        self.output += data
        if len(self.output) > SCROLLBACK:
            del self.output[: len(self.output) - SCROLLBACK]
        for queue in self.clients:
            queue.put_nowait(data)

    def write(self, text: str) -> None:
        self.last_input = time.time()
        data = text.encode()
        while data:
            try:
                written = os.write(self.fd, data)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            data = data[written:]

    def busy(self) -> bool:
        """A command runs in the foreground (the terminal's process group is not the shell's)."""
        try:
            return os.tcgetpgrp(self.fd) != self.pid
        except OSError:
            return False

    def resize(self, cols: int, rows: int) -> None:
        cols, rows = max(2, min(cols, 1000)), max(2, min(rows, 1000))
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _spawn_shell() -> tuple[int, int]:
    entry = pwd.getpwuid(os.getuid())
    shell = os.environ.get("SHELL") or entry.pw_shell or "/bin/bash"
    if not Path(shell).exists() or shell.endswith(("nologin", "false")):
        shell = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
    env = {k: v for k, v in os.environ.items() if k not in _HIDDEN}
    # the job starts in its working directory; PWD may be the server's, inherited
    env.update(TERM="xterm-256color", SHELL=shell, PWD=os.getcwd())
    env.setdefault("HOME", entry.pw_dir)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the shell
        os.execvpe(shell, [shell, "-l"], env)
    return pid, fd


def _authorized(headers: dict[str, str], secret: str) -> bool:
    given = headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"token {secret}".encode())


def make_app(base_url: str, secret: str, shell: Shell) -> object:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def page(request: Request) -> Response:
        if not _authorized(dict(request.headers), secret):
            return Response("forbidden", 403)
        html = (STATIC / "terminal.html").read_text()
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    async def static(request: Request) -> Response:
        if not _authorized(dict(request.headers), secret):
            return Response("forbidden", 403)
        found = FILES.get(request.path_params["name"])
        if found is None:
            return Response("not found", 404)
        return FileResponse(found[0], media_type=found[1])

    async def healthz(request: Request) -> Response:
        if not _authorized(dict(request.headers), secret):
            return Response("forbidden", 403)
        return Response("ok")

    async def activity(request: Request) -> Response:
        if not _authorized(dict(request.headers), secret):
            return Response("forbidden", 403)
        last = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(shell.last_input))
        return JSONResponse(
            {"busy": shell.busy(), "last_activity": last, "clients": len(shell.clients)}
        )

    async def terminal(ws: WebSocket) -> None:
        if not _authorized(dict(ws.headers), secret):
            await ws.close(code=1008)
            return
        await ws.accept()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        if shell.output:
            await ws.send_bytes(bytes(shell.output))
        shell.clients.add(queue)

        async def pump() -> None:
            while (data := await queue.get()) is not None:
                await ws.send_bytes(data)
            await ws.close(code=1000, reason="the shell exited")

        sender = asyncio.ensure_future(pump())
        try:
            while True:
                message = json.loads(await ws.receive_text())
                if message.get("type") == "input":
                    shell.write(str(message.get("data", "")))
                elif message.get("type") == "resize":
                    shell.resize(int(message["cols"]), int(message["rows"]))
        except (WebSocketDisconnect, RuntimeError, ValueError, KeyError):
            pass
        finally:
            shell.clients.discard(queue)
            sender.cancel()

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/healthz", healthz),
        Route("/activity", activity),
        WebSocketRoute("/ws", terminal),
    ]
    return Starlette(routes=[Mount(base_url.rstrip("/"), routes=routes)])


async def serve(host: str, port: int, base_url: str, secret: str) -> None:
    import uvicorn

    shell = Shell()
    shell.attach(asyncio.get_running_loop())
    config = uvicorn.Config(
        make_app(base_url, secret, shell),  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level="warning",
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_keep_alive=75,
    )
    server = uvicorn.Server(config)

    async def stop_when_shell_exits() -> None:
        await shell.exited.wait()
        server.should_exit = True

    watcher = asyncio.ensure_future(stop_when_shell_exits())
    try:
        await server.serve()
    finally:
        watcher.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(shell.pid), signal.SIGHUP)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(shell.pid, 0)


def main() -> None:
    try:
        host = os.environ.get("HAI_APP_HOST", "127.0.0.1")
        port = int(os.environ["HAI_APP_PORT"])
        base_url = os.environ["HAI_APP_BASE_URL"]
        secret = os.environ["HAI_APP_SECRET"]
    except (KeyError, ValueError) as exc:
        sys.exit(
            f"hakutaku.apps.terminal: {exc} is missing or wrong; it is started by the platform "
            "as an app session (HAI_APP_PORT, HAI_APP_BASE_URL, HAI_APP_SECRET)."
        )
    asyncio.run(serve(host, port, base_url, secret))


if __name__ == "__main__":
    main()

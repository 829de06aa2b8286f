"""Fixtures for the worker tests: a toy model file, a recording control API, worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import hakutaku

TOKEN = "test-worker-token"
SRC = str(Path(hakutaku.__file__).resolve().parents[1])

# A sibling module, so loading the model file by path must make `import toy_helper` work.
HELPER_SOURCE = "SCALE = 3\n"

MODEL_SOURCE = textwrap.dedent(
    '''
    """A toy model for the worker tests."""

    import asyncio
    import threading
    import time

    import toy_helper

    from hakutaku.workers import RemoteModel, remote


    class Toy(RemoteModel):
        """Toy model: arithmetic, arrays, streams and failures."""

        name = "toy"
        max_inflight = 4

        def __init__(self):
            self.gate = threading.Event()
            self.release = asyncio.Event()
            self.closed = threading.Event()
            self.ready = False

        def setup(self):
            self.ready = True

        @remote
        def add(self, a, b=1):
            """Add two numbers."""
            return a + b

        @remote
        def scale(self, x):
            return x * toy_helper.SCALE

        @remote
        async def aecho(self, value):
            await asyncio.sleep(0)
            return value

        @remote
        def count(self, n):
            for i in range(n):
                yield {"i": i}

        @remote
        async def acount(self, n):
            for i in range(n):
                await asyncio.sleep(0)
                yield {"i": i}

        @remote
        def fail(self):
            raise RuntimeError("broken on purpose")

        @remote
        def reject(self, x):
            raise ValueError(f"x must be positive, got {x}")

        @remote
        def fail_after(self, n):
            for i in range(n):
                yield {"i": i}
            raise RuntimeError("stream broke")

        @remote
        def slow(self):
            # A blocking synchronous method: waits (in its thread) until the test opens the gate.
            if not self.gate.wait(60):
                raise TimeoutError("gate never opened")
            return "slow done"

        @remote
        def fast(self):
            return "fast"

        @remote
        async def block(self):
            await asyncio.wait_for(self.release.wait(), 60)
            return "released"

        @remote
        def ticks(self):
            # Endless stream; the worker must close it when the client goes away.
            try:
                i = 0
                while True:
                    yield i
                    i += 1
                    time.sleep(0.01)
            finally:
                self.closed.set()

        @remote
        def chat(self, request):
            return {"echo": request, "usage": {"prompt_tokens": 5, "completion_tokens": 7}}

        @remote
        def whoami(self):
            return {"closed": self.closed.is_set(), "ready": self.ready}
    '''
)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """`toy_model.py` (class Toy) next to the sibling module it imports."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "toy_helper.py").write_text(HELPER_SOURCE)
    path = folder / "toy_model.py"
    path.write_text(MODEL_SOURCE)
    return path


@pytest.fixture
def toy(model_file: Path) -> object:
    """A fresh Toy instance loaded from the model file."""
    from hakutaku.workers.loader import instantiate, load_target

    return instantiate(load_target(f"{model_file}:Toy"))


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll until predicate() is truthy; generous timeouts because CI machines are slow."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_until


@pytest.fixture
def token() -> str:
    """The worker token the tests' workers and registry share."""
    return TOKEN


class Registry:
    """A tiny control API on a real port that records what workers send it.

    `down()` before `start()` leaves the port bound but not listening (connections refused);
    `fail_registers` answers that many registrations with 503; `forget()` makes the next
    heartbeat get 404.
    """

    def __init__(self, heartbeat_interval: float = 0.1) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.calls: list[tuple[str, str | None, Any]] = []
        self.known: set[str] = set()
        self.ids: list[str] = []  # issued by successful registrations, in order
        self.fail_registers = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- the app
    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    async def _register(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self.lock:
            self.calls.append(("register", None, body))
            if not self._authorized(request):
                return JSONResponse({"error": {"message": "bad token"}}, 401)
            if self.fail_registers > 0:
                self.fail_registers -= 1
                return JSONResponse({"error": {"message": "starting"}}, 503)
            worker_id = f"w{len(self.calls)}"
            self.known.add(worker_id)
            self.ids.append(worker_id)
        return JSONResponse({"id": worker_id, "heartbeat_interval": self.heartbeat_interval})

    async def _beat(self, request: Request) -> JSONResponse:
        worker_id = request.path_params["id"]
        body = await request.json()
        with self.lock:
            self.calls.append(("heartbeat", worker_id, body))
            if worker_id not in self.known:
                return JSONResponse({"error": {"message": "unknown worker"}}, 404)
        return JSONResponse({"ok": True})

    async def _deregister(self, request: Request) -> JSONResponse:
        worker_id = request.path_params["id"]
        with self.lock:
            self.calls.append(("deregister", worker_id, None))
            self.known.discard(worker_id)
        return JSONResponse({"ok": True})

    # -- control
    def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/api/workers/register", self._register, methods=["POST"]),
                Route("/api/workers/{id}/heartbeat", self._beat, methods=["POST"]),
                Route("/api/workers/{id}/deregister", self._deregister, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[self.sock])), daemon=True
        )
        self._thread.start()
        wait_until(lambda: server.started, what="the test registry to start")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(30)
        self.sock.close()

    def forget(self) -> None:
        with self.lock:
            self.known.clear()

    def of(self, kind: str) -> list[tuple[str, str | None, Any]]:
        with self.lock:
            return [c for c in self.calls if c[0] == kind]

    def issued(self) -> list[str]:
        """Worker ids handed out so far."""
        with self.lock:
            return list(self.ids)


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A recording control API, not yet started (call `.start()`)."""
    reg = Registry()
    try:
        yield reg
    finally:
        reg.stop()


def worker_env(tmp_path: Path, token: str | None = TOKEN) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env["HAI_HOME"] = str(tmp_path / "hai-home")
    env.pop("HAI_WORKER_TOKEN", None)
    if token is not None:
        env["HAI_WORKER_TOKEN"] = token
    return env


CLI = "import typer; from hakutaku.cli.worker import worker; typer.run(worker)"


class WorkerProcess:
    """A `hai worker` process (the CLI function run by Typer) with its stderr captured."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.log_path = cwd / f"worker-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLI, *args],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None and text not in self.output():
                raise AssertionError(f"worker exited ({self.proc.returncode}):\n{self.output()}")
            return text in self.output()

        wait_until(seen, timeout, what=f"{text!r} in the worker output")

    def terminate(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._log.close()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `hai worker ARGS...`; every process started is killed at teardown."""
    started: list[WorkerProcess] = []

    def start(*args: str, token: str | None = TOKEN) -> WorkerProcess:
        proc = WorkerProcess(list(args), worker_env(tmp_path, token), tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()

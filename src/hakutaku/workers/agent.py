"""Run a worker: serve the object over HTTP and keep it registered with the server.

`run_worker` loads the target, binds the listening socket itself (so a port picked by the OS
is known before registering), serves the runtime app with uvicorn and, in the same event loop,
runs an `Agent` that registers with the control API, sends heartbeats, registers again when
the server has forgotten the worker (404), retries with backoff while the server is down,
and deregisters on SIGTERM/SIGINT before the server stops accepting calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Generator
from typing import Any

import httpx
import uvicorn

from hakutaku.workers.loader import LoadError, ainstantiate, load_target, model_name
from hakutaku.workers.runtime import WorkerState, create_worker_app

log = logging.getLogger("hakutaku.worker")

DEFAULT_MAX_INFLIGHT = 32
# Idle keep-alive kept longer than the gateway's connection-pool expiry, so the gateway never
# reuses a connection the worker is closing at the same moment.
KEEP_ALIVE_S = 75
# On SIGTERM, calls in flight (streams included) get this long to finish.
GRACEFUL_SHUTDOWN_S = 30
_REQUEST_TIMEOUT_S = 10.0


class WorkerError(RuntimeError):
    """The worker cannot run: its port cannot be bound, or the server refused it for good."""


class Agent:
    """Registration and heartbeats of one worker against `{server}/api/workers/...`."""

    def __init__(
        self,
        server_url: str,
        token: str,
        registration: dict[str, Any],
        state: WorkerState,
        *,
        default_interval: float = 2.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.registration = registration
        self.state = state
        self.worker_id: str | None = None
        self.interval = default_interval
        self.registrations = 0
        self._beats_failing = False
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._client = httpx.AsyncClient(
            headers={"authorization": f"Bearer {token}"},
            timeout=_REQUEST_TIMEOUT_S,
            trust_env=False,  # a proxy set for the internet must not carry the worker token
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self) -> None:
        """Register, then beat forever (re-registering whenever the server forgot us)."""
        await self.register()
        while True:
            await asyncio.sleep(self.interval)
            await self.heartbeat()

    async def register(self) -> None:
        """Register, retrying with backoff until the server answers; WorkerError if refused."""
        delay = self._backoff_initial
        warned = False
        url = f"{self.server_url}/api/workers/register"
        while True:
            try:
                response = await self._client.post(url, json=self.registration)
            except httpx.HTTPError as e:
                why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            else:
                if response.status_code == 200:
                    try:
                        body = response.json()
                        self.worker_id = str(body["id"])
                    except (ValueError, KeyError, TypeError):
                        raise WorkerError(
                            f"{self.server_url} answered the registration without a worker id: "
                            f"{response.text[:200]!r}"
                        ) from None
                    interval = body.get("heartbeat_interval")
                    if isinstance(interval, int | float) and interval > 0:
                        self.interval = float(interval)
                    self.registrations += 1
                    log.info("registered with %s as worker %s", self.server_url, self.worker_id)
                    return
                if response.status_code in (400, 401, 403, 404, 409, 413, 422):
                    raise WorkerError(_refusal(self.server_url, response))
                why = f"HTTP {response.status_code}"
            if not warned:
                log.warning(
                    "cannot register with %s yet (%s); retrying until it answers",
                    self.server_url,
                    why,
                )
                warned = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)

    async def heartbeat(self) -> None:
        """One beat; a 404 means the server dropped us, so register again."""
        body = {"inflight": self.state.inflight, "served": self.state.served}
        url = f"{self.server_url}/api/workers/{self.worker_id}/heartbeat"
        try:
            response = await self._client.post(url, json=body)
        except httpx.HTTPError as e:
            if not self._beats_failing:  # once per outage, not every beat
                log.warning(
                    "heartbeats to %s fail (%s); still trying", self.server_url, type(e).__name__
                )
            self._beats_failing = True
            return
        if self._beats_failing:
            log.info("heartbeats to %s work again", self.server_url)
            self._beats_failing = False
        if response.status_code == 404:
            log.warning(
                "server %s no longer knows worker %s; registering again",
                self.server_url,
                self.worker_id,
            )
            self.worker_id = None
            await self.register()
        elif response.status_code in (401, 403):
            raise WorkerError(_refusal(self.server_url, response))
        elif response.status_code != 200:
            log.warning("heartbeat to %s answered HTTP %s", self.server_url, response.status_code)

    async def deregister(self) -> None:
        """Tell the server we are leaving; best effort, it drops silent workers anyway."""
        if self.worker_id is None:
            return
        url = f"{self.server_url}/api/workers/{self.worker_id}/deregister"
        try:
            await self._client.post(url, timeout=5.0)
        except httpx.HTTPError as e:
            log.warning("deregistering from %s failed: %s", self.server_url, type(e).__name__)
        self.worker_id = None


def _job_id() -> int | None:
    """The platform job this worker runs in (a deployment's replica), if any."""
    value = os.environ.get("HAI_JOB_ID", "")
    return int(value) if value.isdigit() else None


def _refusal(server_url: str, response: httpx.Response) -> str:
    try:
        detail = response.json()["error"]["message"]
    except Exception:
        detail = response.text[:200]
    if response.status_code == 401:
        return (
            f"{server_url} refused the worker token (HTTP 401); the worker must use the "
            "server's token (HAI_WORKER_TOKEN or $HAI_HOME/worker.token) or one scoped to its "
            "model (`hai models tokens create MODEL`)"
        )
    if response.status_code == 403:
        return f"{server_url} refused the worker (HTTP 403): {detail}"
    return f"{server_url} refused the registration (HTTP {response.status_code}): {detail}"


# ---------------------------------------------------------------------------- run_worker


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: one the OS picks)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise WorkerError(f"cannot listen on {host}:{port}: {e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise WorkerError(f"cannot listen on {host}:{port}: {e}") from None
    sock.set_inheritable(True)
    return sock


def _advertised_url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()  # listening everywhere: name this machine
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: run_worker deregisters before shutting down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _uvicorn_config(app: Any) -> uvicorn.Config:
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:  # pragma: no cover - platforms without the C parser
        http = "h11"
    return uvicorn.Config(
        app,
        http=http,
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def _loop_factory() -> Any:
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop does not exist on Windows
        return None


def _configure_logging() -> None:
    logger = logging.getLogger("hakutaku")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def run_worker(
    target: str,
    server_url: str,
    name: str | None,
    host: str,
    port: int,
    max_inflight: int | None,
    advertise_url: str | None,
    token: str,
) -> None:
    """Serve `target` until SIGTERM/SIGINT, registered with `server_url`.

    `max_inflight=None` takes the object's `max_inflight` attribute, else 32. Raises LoadError
    (bad target) or WorkerError (port taken, the server refused the worker).
    """
    if not token:
        raise WorkerError("no worker token")
    _configure_logging()
    loaded = load_target(target)
    sock = bind_socket(host, port)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(
                _serve(loaded, server_url, name, host, sock, max_inflight, advertise_url, token)
            )
    finally:
        sock.close()


async def _serve(
    loaded: Any,
    server_url: str,
    name: str | None,
    host: str,
    sock: socket.socket,
    max_inflight: int | None,
    advertise_url: str | None,
    token: str,
) -> None:
    # Built inside the serving loop so that whatever an async setup() creates belongs to it.
    obj = await ainstantiate(loaded)
    model = model_name(obj, name)
    if max_inflight is None:
        attr = getattr(obj, "max_inflight", None)
        max_inflight = attr if isinstance(attr, int) and attr > 0 else DEFAULT_MAX_INFLIGHT
    # The gateway calls this worker with a secret the worker chose, never with the platform's
    # global token: a worker started with a token scoped to its model never learns that one.
    call_token = "hai-call." + secrets.token_urlsafe(32)
    app = create_worker_app(obj, model, token, max_inflight, call_token)
    state: WorkerState = app.state.worker
    if not state.methods:
        raise LoadError(
            f"{type(obj).__qualname__} has no @remote methods; decorate the methods callers "
            "may use with @remote (from hakutaku.workers import remote)"
        )
    url = (advertise_url or _advertised_url(sock, host)).rstrip("/")
    server = _Server(_uvicorn_config(app))

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():  # a second signal: stop now, without waiting for calls in flight
            server.should_exit = True
            server.force_exit = True
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)

    serve_task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serve_task.done():
            await serve_task  # it failed to start: raise its error
            return
        await asyncio.sleep(0.01)
    print(f"worker {model} serving {url} for {server_url}", file=sys.stderr, flush=True)

    agent = Agent(
        server_url,
        token,
        {
            "model": model,
            "url": url,
            "methods": state.describe_methods(),
            "max_inflight": max_inflight,
            "description": state.description,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "call_token": call_token,
            "job_id": _job_id(),
        },
        state,
    )
    agent_task = asyncio.create_task(agent.run())
    stop_task = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serve_task, agent_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_task.cancel()
        agent_task.cancel()
        await asyncio.gather(agent_task, return_exceptions=True)
        # Deregister first, so the gateway stops routing here, then drain calls in flight.
        await agent.deregister()
        await agent.aclose()
        server.should_exit = True
        await serve_task
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    failure = None if agent_task.cancelled() else agent_task.exception()
    if failure is not None:
        raise failure

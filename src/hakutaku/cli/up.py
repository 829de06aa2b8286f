"""`hai up`: the whole platform on this machine — server plus demo workers — in one command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Annotated

import httpx
import typer

from hakutaku.cli.serve import announce_new_admin_key
from hakutaku.config import Settings, get_settings, read_secret_file

DEMO_WORKERS = {
    "all-minilm-l6-v2": "hakutaku.workers.backends.embedding:SentenceEmbedding",
    "hep-kinematics": "hakutaku.workers.backends.hep_kinematics:HepKinematics",
}
# The offline chat model loads for ~20 s: started with the others, but not waited for (until it
# registers, the gateway answers calls to it 503 model_loading).
CHAT_WORKER = "hakutaku.workers.backends.local_chat:LocalChat"


class Child:
    """A supervised child process with its log file."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the child
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _wait_for(check: object, timeout: float, what: str, children: list[Child]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited while {what}; see {child.log_path}")
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"timed out after {timeout:g} s {what}")


def banner(settings: Settings, key: str, first_login: str | None = None, chat: bool = False) -> str:
    url = settings.server_url
    portal = f"Web portal: {url}/"
    if first_login:
        portal += (
            f"\n  first sign-in as admin (once, within 24 h; then set a password):\n  {first_login}"
        )
    return f"""
Hakutaku is up at {url}   (HAI_HOME={settings.home})
{portal}
API key (bootstrap admin): {key}

Try it — a real sentence embedding, and a physics calculation on a remote model:

  curl {url}/v1/embeddings \\
    -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
    -d '{{"model": "all-minilm-l6-v2", "input": "The top quark decays to W b."}}'

  curl {url}/v1/models/hep-kinematics/invariant_mass \\
    -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
    -d '{{"p4": [[45.6, 0, 0, 45.6], [45.6, 0, 0, -45.6]], "combine": true}}'

{_chat_lines(settings, key) if chat else ""}From Python:

  import numpy as np
  from hakutaku import Client
  client = Client("{url}", api_key="{key}")
  reply = client.openai.embeddings.create(model="all-minilm-l6-v2", input="jet")
  print(reply.data[0].embedding[:4])
  kin = client.remote_model("hep-kinematics")
  print(kin.invariant_mass(np.array([[45.6, 0, 0, 45.6], [45.6, 0, 0, -45.6]]), combine=True))

Logs: {settings.home / "logs"}    Stop: Ctrl-C
"""


def _chat_lines(settings: Settings, key: str) -> str:
    # One line of JSON: the curl example must stay copy-pasteable as one shell command.
    ask = (
        f'{{"model": "{settings.chat_model}", "max_tokens": 32, '
        '"messages": [{"role": "user", "content": "What is a quark?"}]}'
    )
    return f"""The offline chat model {settings.chat_model} is loading in the background (~20 s;
until then it answers 503 model_loading):

  curl {settings.server_url}/v1/chat/completions \\
    -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\
    -d '{ask}'

"""


def up(
    demo: Annotated[bool, typer.Option(help="Start the demo workers.")] = True,
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 300,
) -> None:
    """Start the platform here: server, bootstrap key, demo workers; print how to call it."""
    from hakutaku.server.setup import prepare

    settings = get_settings()
    if not _port_free(settings.host, settings.port):
        typer.echo(
            f"error: {settings.host}:{settings.port} is already in use. Is another platform "
            "running? Choose another port with HAI_PORT=8123.",
            err=True,
        )
        raise typer.Exit(1)
    prepared = prepare(settings, first_login=True)
    announce_new_admin_key(settings, prepared.new_admin_key)
    key = prepared.new_admin_key or read_secret_file(settings.bootstrap_key_path) or ""
    logs = settings.home / "logs"
    logs.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "HAI_HOME": str(settings.home),
        "HAI_HOST": settings.host,
        "HAI_PORT": str(settings.port),
        "HAI_DATABASE_URL": settings.sqlalchemy_url,
    }
    me = [sys.executable, "-m", "hakutaku"]
    server = Child("server", [*me, "serve"], logs / "server.log", env)
    workers = [
        Child(
            name,
            [*me, "worker", target, "--server", settings.server_url],
            logs / f"{name}.log",
            env,
        )
        for name, target in (DEMO_WORKERS.items() if demo and settings.demo_workers else [])
    ]
    chat = None
    if demo and settings.chat_worker:
        _announce_chat_model(settings)
        chat = Child(
            "chat",
            [*me, "worker", CHAT_WORKER, "--server", settings.server_url],
            logs / "chat.log",
            env,
        )
    children = [server, *workers]
    stopping = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()
        health = f"{settings.server_url}/healthz"
        _wait_for(
            lambda: httpx.get(health, timeout=2).status_code == 200,
            60,
            "starting the server",
            [server],
        )
        if chat is not None:
            chat.start()  # first: it loads longest
        for w in workers:
            w.start()
        expected = {w.name for w in workers}
        _wait_for(
            lambda: expected <= _live_models(settings, key),
            ready_timeout,
            "loading the demo models",
            children,
        )
        typer.echo(banner(settings, key, prepared.first_login_url, chat is not None))
        _supervise(server, [*workers, *([chat] if chat else [])], lambda: stopping)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        for child in [*([chat] if chat else []), *workers, server]:
            child.stop()


def _announce_chat_model(settings: Settings) -> None:
    """Make the chat model known (with its description) before its worker has loaded it."""
    from hakutaku.db.session import Database
    from hakutaku.gateway.catalog import announce_worker_model
    from hakutaku.workers.backends.local_chat import default_description

    description = settings.chat_model_description or default_description(settings.chat_model_path)
    db = Database(settings.sqlalchemy_url)
    try:
        with db.session() as s:
            announce_worker_model(s, settings.chat_model, description)
    finally:
        db.dispose()


def _live_models(settings: Settings, key: str) -> set[str]:
    r = httpx.get(
        f"{settings.server_url}/v1/models", headers={"authorization": f"Bearer {key}"}, timeout=5
    )
    return {m["id"] for m in r.json().get("data", [])} if r.status_code == 200 else set()


def _supervise(server: Child, workers: list[Child], stopping: object) -> None:
    """Until a stop signal: restart dead workers (5 times at most); stop if the server dies."""
    while not stopping():  # type: ignore[operator]
        if not server.alive():
            raise RuntimeError(f"the server exited; see {server.log_path}")
        for w in workers:
            if not w.alive() and w.restarts < 5:
                w.restarts += 1
                typer.echo(f"worker {w.name} exited; restarting ({w.restarts}/5)", err=True)
                w.start()
        time.sleep(0.5)

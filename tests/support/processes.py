"""Start real platform processes on 127.0.0.1: a server, workers, and stop or kill them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hakutaku.sdk.client import Client

FAST_TIMINGS = {
    "HAI_HEARTBEAT_INTERVAL": "0.5",
    "HAI_MISSED_HEARTBEATS": "3",
    "HAI_REGISTRY_REFRESH": "0.25",
    "HAI_USAGE_FLUSH_INTERVAL": "0.5",
    "HAI_KEY_CACHE_TTL": "2",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what} (last error: {last})")


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()
        return self.popen.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Platform:
    """A real `hai serve` process with its own HAI_HOME and port."""

    def __init__(self, home: Path, *, database_url: str | None = None, **env: str) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **FAST_TIMINGS,
            "HAI_HOME": str(home),
            "HAI_PORT": str(self.port),
            "HAI_HOST": "127.0.0.1",
            "HAI_URL": self.url,
            **env,
        }
        self.env.pop("HAI_API_KEY", None)
        self.env.pop("HAI_WORKER_TOKEN", None)
        if database_url:
            self.env["HAI_DATABASE_URL"] = database_url
        self.server: Proc | None = None
        self.workers: list[Proc] = []
        home.mkdir(parents=True, exist_ok=True)

    def start(self) -> Platform:
        self.server = Proc(
            "server",
            [sys.executable, "-m", "hakutaku", "serve"],
            self.env,
            self.home / "server.log",
        )
        wait_until(self._healthy, 60, f"the server on {self.url} ({self.home / 'server.log'})")
        return self

    def _healthy(self) -> bool:
        assert self.server is not None
        if not self.server.alive():
            raise RuntimeError(f"server exited:\n{self.server.output()}")
        return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for w in self.workers:
            w.stop()
        if self.server is not None:
            self.server.stop(sig)

    @property
    def admin_key(self) -> str:
        return (self.home / "bootstrap-admin.key").read_text().strip()

    @property
    def worker_token(self) -> str:
        return (self.home / "worker.token").read_text().strip()

    def client(self, key: str | None = None) -> Client:
        return Client(self.url, key or self.admin_key)

    def http(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"authorization": f"Bearer {key or self.admin_key}"},
            timeout=60,
        )

    def start_worker(
        self,
        target: str,
        *,
        name: str | None = None,
        args: tuple[str, ...] = (),
        wait: float = 120,
        env: dict[str, str] | None = None,
    ) -> Proc:
        argv = [sys.executable, "-m", "hakutaku", "worker", target, "--server", self.url]
        if name:
            argv += ["--name", name]
        argv += list(args)
        log = self.home / f"worker-{len(self.workers)}.log"
        proc = Proc(f"worker-{name or target}", argv, {**self.env, **(env or {})}, log)
        self.workers.append(proc)
        wait_until(lambda: self._registered(proc), wait, f"worker {target} to register ({log})")
        return proc

    def _registered(self, proc: Proc) -> bool:
        if not proc.alive():
            raise RuntimeError(f"worker exited:\n{proc.output()}")
        with self.http() as h:
            rows = h.get("/api/workers").json()
        return any(r["pid"] == proc.pid for r in rows)

    def live_workers(self, model: str) -> list[dict[str, Any]]:
        with self.http() as h:
            return [r for r in h.get("/api/workers").json() if r["model"] == model]

    def add_user_key(self, name: str, groups: tuple[str, ...] = ()) -> str:
        with self.http() as h:
            r = h.post("/api/users", json={"name": name, "groups": list(groups)})
            assert r.status_code == 201, r.text
            r = h.post("/api/keys", json={"user": name})
            assert r.status_code == 201, r.text
            return r.json()["key"]

"""Steady calls from threads, counting every answer: the load of the deployment tests."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx


class Load:
    """`clients` threads calling `model.method(args)` back to back until stopped."""

    def __init__(
        self, url: str, key: str, model: str, method: str, args: dict[str, Any], clients: int
    ) -> None:
        self.url = f"{url}/v1/models/{model}/{method}"
        self.headers = {"authorization": f"Bearer {key}"}
        self.args = args
        self.clients = clients
        self.statuses: Counter[int] = Counter()
        self.results: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Load:
        for _ in range(self.clients):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=120)

    @property
    def calls(self) -> int:
        with self._lock:
            return sum(self.statuses.values())

    def _run(self) -> None:
        with httpx.Client(headers=self.headers, timeout=180) as h:
            while not self._stop.is_set():
                try:
                    r = h.post(self.url, json=self.args)
                except httpx.HTTPError as e:
                    with self._lock:
                        self.statuses[0] += 1
                        self.failures.append(f"{type(e).__name__}: {e}")
                    continue
                with self._lock:
                    self.statuses[r.status_code] += 1
                    if r.status_code == 200:
                        self.results[str(r.json())] += 1
                    else:
                        self.failures.append(f"{r.status_code}: {r.text[:300]}")

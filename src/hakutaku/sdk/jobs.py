"""`client.jobs`: submit, follow and cancel batch jobs (the `/api/jobs` endpoints)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hakutaku.sdk.errors import from_response

if TYPE_CHECKING:
    from hakutaku.sdk.client import Client

FINAL_STATES = frozenset({"completed", "failed", "cancelled", "timeout"})


class Jobs:
    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(self, command: list[str] | None = None, **options: Any) -> dict[str, Any]:
        """Submit a job; `options` as in `/api/jobs` (script, partition, qos, cpus, mem, gpus,
        time, workdir, env, name, account). Returns the job's record."""
        body = {"command": list(command or []), **options}
        return self._client._request_json("POST", "/api/jobs", json=body)

    def list(self, *, everyone: bool = False, state: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"all": everyone}
        if state:
            params["state"] = state
        return self._client._request_json("GET", "/api/jobs", params=params)

    def get(self, job_id: int) -> dict[str, Any]:
        return self._client._request_json("GET", f"/api/jobs/{job_id}")

    def cancel(self, job_id: int) -> dict[str, Any]:
        return self._client._request_json("POST", f"/api/jobs/{job_id}/cancel")

    def logs(self, job_id: int, *, follow: bool = False, offset: int = 0) -> Iterator[bytes]:
        """The job's output; with `follow`, as it is written until the job ends."""
        params = {"follow": follow, "offset": offset}
        with self._client._http.stream(
            "GET", f"/api/jobs/{job_id}/logs", params=params, timeout=None
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise from_response(response)
            yield from response.iter_bytes()

    def wait(self, job_id: int, timeout: float | None = None, poll: float = 0.5) -> dict[str, Any]:
        """Block until the job ends; return its final record (TimeoutError after `timeout`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job["state"] in FINAL_STATES:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout} s")
            time.sleep(poll)

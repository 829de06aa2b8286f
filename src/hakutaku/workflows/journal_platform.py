"""The journal through the platform: `/api/workflows` with the user's API key.

The server writes the rows for the key's user (`hakutaku.workflows.store`), so the campaign
is theirs whoever runs the steering process and wherever: no database password leaves the
server, and nobody journals or bills under another user's name. A cancel asked for with
`hai workflows cancel` comes back in the answer to the heartbeat, about once a second.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hakutaku.sdk.client import Client
from hakutaku.sdk.errors import APIError
from hakutaku.workflows.errors import WorkflowError
from hakutaku.workflows.store import Journaled, Opened

ROWS_PER_REQUEST = 1000
STALE_RUN = "stale_run"


class PlatformBackend:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.name = ""

    @classmethod
    def from_environment(cls) -> PlatformBackend:
        try:
            return cls(Client(timeout=60))
        except ValueError as exc:
            raise WorkflowError(
                f"the campaign's journal goes through the platform but {exc} "
                "(`hai workflows run` passes the key it uses)"
            ) from exc

    def open(self, name: str, run_dir: str, profile: str, host: str, pid: int) -> Opened:
        self.name = name
        try:
            answer = self.client.workflows.start_run(
                name, run_dir=run_dir, profile=profile, host=host, pid=pid
            )
        except APIError as exc:
            raise WorkflowError(
                f"the platform at {self.client.base_url} did not open campaign {name!r}: "
                f"{exc.message}"
            ) from exc
        previous = {
            t["key"]: Journaled(t["key"], t["state"], t["task_dir"], t["result_ref"])
            for t in answer["previous"]
        }
        return Opened(int(answer["id"]), int(answer["run"]), previous)

    def write(self, opened: Opened, rows: list[dict[str, Any]], blocks_are_jobs: bool) -> None:
        for start in range(0, len(rows), ROWS_PER_REQUEST):
            chunk = [_jsonable(row) for row in rows[start : start + ROWS_PER_REQUEST]]
            try:
                self.client.workflows.write_tasks(
                    self.name, opened.run, chunk, blocks_are_jobs=blocks_are_jobs
                )
            except APIError as exc:
                if exc.code == STALE_RUN:
                    return  # a newer run owns the rows; the heartbeat stops this one
                raise

    def heartbeat(self, opened: Opened, blocks_are_jobs: bool) -> bool:
        try:
            answer = self.client.workflows.write_tasks(
                self.name, opened.run, [], blocks_are_jobs=blocks_are_jobs
            )
        except APIError as exc:
            if exc.code == STALE_RUN:
                return True  # the campaign was started again elsewhere: stop this run
            raise
        return bool(answer["cancel_requested"])

    def end(self, opened: Opened, state: str) -> None:
        try:
            self.client.workflows.end_run(self.name, opened.run, state)
        except APIError as exc:
            if exc.code != STALE_RUN:
                raise

    def dispose(self) -> None:
        self.client.close()


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}

"""`client.workflows`: campaigns of `hakutaku.workflows` journaled on the platform.

client.workflows.list()                      # your campaigns (an admin's: everyone's)
client.workflows.get("scan")                 # one, with its tasks' states and timings
client.workflows.cancel("scan")              # its steering process cancels its tasks

`start_run`, `write_tasks` and `end_run` are the steering process's journal (a `Campaign`
under `hai workflows run` calls them); nothing else needs them.
"""

from __future__ import annotations

import builtins
from typing import Any

from hakutaku.sdk._resource import Record, Resource, query, segment


class Workflows(Resource):
    """`/api/workflows`. A campaign: `id`, `name`, `owner`, `profile`, `state` (running, finished,
    failed, cancelled), `run_dir`, `host`, `pid`, `runs`, `cancel_requested`,
    `blocks_are_jobs`, `created_at`, `updated_at` (the steering process's last heartbeat),
    `tasks` (counts by state), `cpu_seconds`, `wall_seconds`; `get` adds `task_list`."""

    def list(self, *, user: str | None = None, state: str | None = None) -> builtins.list[Record]:
        """Your campaigns (an admin's: everyone's; `user` picks one user's)."""
        return self._client._objects("GET", "/api/workflows", params=query(user=user, state=state))

    def get(
        self,
        name: str,
        *,
        user: str | None = None,
        state: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> Record:
        """One campaign with its tasks (`task_list`: key, name, kind, pool, cpus, cards,
        state, attempts, run, submitted_at, started_at, ended_at, cpu_seconds, wall_seconds,
        result_ref, error), in order of submission; `state` filters them."""
        return self._client._object(
            "GET",
            f"/api/workflows/{segment(name)}",
            params=query(user=user, state=state, limit=limit, offset=offset),
        )

    def cancel(self, name: str, *, user: str | None = None) -> Record:
        """Ask the campaign's steering process to stop: it cancels its running and queued
        tasks within a few seconds and ends the campaign `cancelled`."""
        return self._client._object(
            "POST", f"/api/workflows/{segment(name)}/cancel", params=query(user=user)
        )

    # -- the steering process's journal ---------------------------------------------------

    def start_run(
        self, name: str, *, run_dir: str, profile: str, host: str, pid: int | None = None
    ) -> Record:
        """Open a new run of your campaign `name`; answers its `id`, `run` and `previous`
        (the tasks earlier runs finished)."""
        body = {"name": name, "run_dir": run_dir, "profile": profile, "host": host, "pid": pid}
        return self._client._object("POST", "/api/workflows", json=body)

    def write_tasks(
        self,
        name: str,
        run: int,
        tasks: builtins.list[dict[str, Any]],
        *,
        blocks_are_jobs: bool = False,
    ) -> Record:
        """Write tasks' rows (also the heartbeat, with none); answers `cancel_requested`."""
        body = {"run": run, "tasks": tasks, "blocks_are_jobs": blocks_are_jobs}
        return self._client._object("POST", f"/api/workflows/{segment(name)}/tasks", json=body)

    def end_run(self, name: str, run: int, state: str) -> Record:
        """End the run: finished, failed or cancelled."""
        return self._client._object(
            "POST", f"/api/workflows/{segment(name)}/end", json={"run": run, "state": state}
        )

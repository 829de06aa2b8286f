"""`client.workers`: the workers registered with the platform (admin).

Registration, heartbeats and leaving (`/api/workers/register`, `.../heartbeat`,
`.../deregister`) take the worker token, not an API key: `hai worker` speaks them
(hakutaku.workers.agent), so they are not part of this SDK.
"""

from __future__ import annotations

import builtins

from hakutaku.sdk._resource import Record, Resource


class Workers(Resource):
    """`/api/workers` (admin). A worker record: `id`, `model`, `url`, `methods`,
    `max_inflight`, `inflight`, `served`, `host`, `pid`, `registered_at`,
    `last_heartbeat_at`."""

    def list(self) -> builtins.list[Record]:
        """Live workers, by model (GET /api/workers); silent ones are dropped after missed
        heartbeats."""
        return self._client._objects("GET", "/api/workers")

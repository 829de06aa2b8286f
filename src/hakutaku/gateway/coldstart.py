"""A call to a deployed model with no replica up: ask for one and wait, within a bound.

A deployment scaled to zero (`--min 0`) has no worker. The first call records that it is
wanted (one UPDATE of the deployment's row, at most once a second per model and replica) and
wakes this replica's controller; the controller (at once if this replica leads, else at the
leader's next tick) then starts a replica, and the call goes on as soon as this replica's
registry sees it. Past HAI_DEPLOY_COLD_START_WAIT the caller gets 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime

from sqlalchemy import update

from hakutaku.db.models import Deployment
from hakutaku.gateway.context import Gateway
from hakutaku.gateway.errors import GatewayError

POLL = 0.05
ASK_EVERY = 1.0
RETRY_AFTER_MIN = 5


def _ask(gw: Gateway, model: str) -> None:
    with gw.db.session() as s:
        s.execute(
            update(Deployment)
            .where(Deployment.name == model, Deployment.state == "active")
            .values(wanted_at=datetime.now(UTC))
        )


def _up(gw: Gateway, model: str, exclude: set[str]) -> bool:
    return any(
        w.dead_since_beat is None and not w.draining and w.id not in exclude
        for w in gw.registry.workers(model)
    )


async def wait_for_replica(gw: Gateway, model: str, exclude: set[str] | None = None) -> None:
    """Return once a replica of `model` is up (other than those in `exclude`, which failed
    this call); 503 with Retry-After past the bound."""
    wait = gw.settings.deploy_cold_start_wait
    deadline = time.monotonic() + wait
    while True:
        now = time.monotonic()
        if now - gw.cold_asked.get(model, -math.inf) >= ASK_EVERY:
            gw.cold_asked[model] = now
            await asyncio.to_thread(_ask, gw, model)
            if gw.on_cold_start is not None:
                gw.on_cold_start()
        if _up(gw, model, exclude or set()):
            return
        if now >= deadline:
            break
        await asyncio.sleep(POLL)
    retry = max(RETRY_AFTER_MIN, math.ceil(wait))
    raise GatewayError(
        503,
        f"The model '{model}' is deployed with no replica running (scaled to zero); one is "
        f"starting but did not answer within {wait:.0f} s. Retry after {retry} s.",
        type="server_error",
        code="model_cold_starting",
        headers={"retry-after": str(retry)},
    )

"""A session as its card (portal) and the API show it: phase, why, time left, where, links."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hakutaku.apps.ending import ended_why
from hakutaku.apps.sessions import AppSessions, base_url
from hakutaku.compute.policy import Policy
from hakutaku.db.models import AppSession, Job

if TYPE_CHECKING:
    from hakutaku.apps.proxy import AppProxy

# What the card's Extend offers (seconds), as far as the QOS and partition leave room.
EXTEND_STEPS = (1800, 3600, 7200, 14400)


@dataclass(frozen=True)
class Card:
    id: str
    app: str
    title: str
    phase: str  # starting | running | ended
    reason: str  # the scheduler's reason while pending; the job's own once ended
    ended: str | None  # completed | time limit | out of memory | cancelled | …
    job_id: int
    node: str | None
    cpus: int
    mem_mb: int
    accelerators: int
    accelerator: str
    partition: str
    qos: str
    time_limit: int
    seconds_left: int | None
    extend_room: int  # seconds the session may still be extended by (0: none)
    extend_choices: list[int]  # what its Extend offers, seconds
    url: str
    job_folder: str
    created_at: datetime

    def record(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def card(sessions: AppSessions, row: AppSession, job: Job, policy: Policy) -> Card:
    """The card of a session; `policy` (read_policy) says how far it may be extended."""
    ended = ended_why(job, row.culled)
    if ended is not None:
        phase = "ended"
    elif job.state == "running" and row.ready_at is not None:
        phase = "running"
    else:
        phase = "starting"
    left = None
    if ended is None and job.started_at is not None:
        used = (datetime.now(UTC) - job.started_at).total_seconds()
        left = max(0, int(job.time_limit - used))
    spec = sessions.apps.get(row.app)
    room = 0 if ended is not None else sessions.compute.extension_room(policy, job)
    return Card(
        id=row.id,
        app=row.app,
        title=spec.title if spec else row.app,
        phase=phase,
        reason=job.reason or "",
        ended=ended,
        job_id=job.id,
        node=job.node,
        cpus=job.cpus,
        mem_mb=job.mem_mb,
        accelerators=job.accelerators,
        accelerator=job.accelerator,
        partition=job.partition,
        qos=job.qos,
        time_limit=job.time_limit,
        seconds_left=left,
        extend_room=room,
        extend_choices=extend_choices(room),
        url=base_url(row.id),
        job_folder=f"/jobs/{job.id}/files",
        created_at=row.created_at,
    )


def extend_choices(room: int) -> list[int]:
    """The steps that fit in `room`; when none does, what is left in whole minutes."""
    steps = [step for step in EXTEND_STEPS if step <= room]
    if not steps and room >= 60:
        steps = [room // 60 * 60]
    return steps


async def fresh_cards(proxy: AppProxy, read: Callable[[], list[Card]]) -> list[Card]:
    """The cards `read` gives (blocking: run in a thread), after asking each app whose job runs
    but is not known up yet whether it answers: a session is `running` only once its app has
    answered once (the portal's cards, the API's, `hai apps launch --wait`)."""
    cards = await asyncio.to_thread(read)
    answered = False
    for c in cards:
        if c.phase == "starting" and c.node is not None:
            target = await proxy.target(c.id, fresh=True)
            if target is not None and target.host is not None:
                answered = await proxy.probe(target) or answered
    return await asyncio.to_thread(read) if answered else cards
